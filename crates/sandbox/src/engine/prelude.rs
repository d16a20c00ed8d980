//! Installs the prelude's globals and the host functions behind them into a fresh context,
//! before the execution they will serve has arrived: a worker does this while it waits, so
//! an execution starts with its sandbox already built.
//!
//! The host functions reach the execution's state through a [`Binding`] filled once the job
//! is known. No snippet code can run before that, so an unbound call is a bug in the sandbox,
//! reported as an internal error rather than a panic.

use std::cell::OnceCell;
use std::rc::Rc;

use rquickjs::{Ctx, Exception, Function, Object};

use super::bridge::Shared;
use super::{job_clock, natives, PRELUDE};
use crate::bytecode;
use crate::output::LogLevel;

/// The execution a context's host functions serve, set once its job arrives.
pub(super) type Binding<'js> = Rc<OnceCell<Rc<Shared<'js>>>>;

pub(super) fn bound<'a, 'js>(
    ctx: &Ctx<'js>,
    binding: &'a Binding<'js>,
) -> rquickjs::Result<&'a Shared<'js>> {
    match binding.get() {
        Some(shared) => Ok(shared),
        None => Err(Exception::throw_internal(
            ctx,
            "the sandbox's host functions were called before an execution was bound to them",
        )),
    }
}

/// Evaluates the prelude with `host` functions bound to `binding`; returns what the prelude
/// hands back to the host (the serializer's builtins and friends, captured before the
/// agent's code could touch one).
pub(super) fn install<'js>(
    ctx: &Ctx<'js>,
    binding: &Binding<'js>,
) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;

    let b = binding.clone();
    host.set(
        "call",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  namespace: String,
                  name: String,
                  args: Option<String>,
                  site: Object<'js>| {
                bound(&ctx, &b)?.call(&ctx, namespace, name, args, site)
            },
        )?,
    )?;
    let b = binding.clone();
    host.set(
        "has",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, namespace: String, name: String| {
                Ok::<_, rquickjs::Error>(bound(&ctx, &b)?.catalog.has_tool(&namespace, &name))
            },
        )?,
    )?;
    let b = binding.clone();
    host.set(
        "isOpen",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, namespace: String| {
            Ok::<_, rquickjs::Error>(bound(&ctx, &b)?.catalog.is_open(&namespace))
        })?,
    )?;
    let b = binding.clone();
    host.set(
        "hasNamespace",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, namespace: String| {
            Ok::<_, rquickjs::Error>(bound(&ctx, &b)?.catalog.has_namespace(&namespace))
        })?,
    )?;
    let b = binding.clone();
    host.set(
        "missing",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, namespace: String, name: Option<String>| {
                Ok::<_, rquickjs::Error>(
                    bound(&ctx, &b)?
                        .catalog
                        .missing_message(&namespace, name.as_deref()),
                )
            },
        )?,
    )?;
    let b = binding.clone();
    host.set(
        "namespaces",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            let catalog = &bound(&ctx, &b)?.catalog;
            Ok::<_, rquickjs::Error>(
                catalog
                    .namespaces()
                    .chain(catalog.root_functions())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
        })?,
    )?;
    let b = binding.clone();
    host.set(
        "names",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, namespace: String| {
            Ok::<_, rquickjs::Error>(
                bound(&ctx, &b)?
                    .catalog
                    .tools(&namespace)
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
        })?,
    )?;
    let b = binding.clone();
    host.set(
        "log",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, level: String, args: rquickjs::Value<'js>| {
                bound(&ctx, &b)?.log(&ctx, LogLevel::parse(&level), args.into_array())
            },
        )?,
    )?;
    let b = binding.clone();
    host.set(
        "sleep",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: f64, ms: f64| {
            bound(&ctx, &b)?.sleep(&ctx, id as u64, ms)
        })?,
    )?;
    let b = binding.clone();
    host.set(
        "cancel",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: f64| {
            bound(&ctx, &b)?.cancel_timer(id as u64);
            Ok::<_, rquickjs::Error>(())
        })?,
    )?;
    natives::install(ctx, &host)?;
    job_clock::install(ctx, binding)?;

    let config = Object::new(ctx.clone())?;
    let prelude: Function = bytecode::eval_prelude(ctx, PRELUDE, "prelude.js")?.get()?;
    prelude.call((host, config))
}
