//! The Linux implementation: one module per layer, applied by [`lock_down`] in an order where
//! each step still has what it needs (fds are closed while `/proc` is reachable, namespaces are
//! entered while the process is single-threaded, seccomp comes last because it forbids the
//! calls the other layers are made with).

mod caps;
mod env;
mod fds;
mod landlock_rules;
mod libc_quirks;
mod namespaces;
mod probe;
mod rlimits;
mod seccomp;

use crate::layer;
use crate::{ConfineError, LayerState, Policy, Report, Template};

pub(crate) use probe::probe;

pub(crate) fn lock_down(policy: &Policy) -> Result<Report, ConfineError> {
    let template = prepare_template()?;
    lock_down_forked(policy, &template)
}

pub(crate) fn prepare_template() -> Result<Template, ConfineError> {
    single_threaded()?;
    let mut layers = Vec::with_capacity(5);
    layers.push((layer::FDS_CLOSED, fds::close_inherited()?));
    layers.push((layer::ENV_CLEARED, env::clear()));
    libc_quirks::settle();
    layers.extend(namespaces::enter()?);
    Ok(Template {
        layers,
        filtered: false,
    })
}

pub(crate) fn lock_down_forked(
    policy: &Policy,
    template: &Template,
) -> Result<Report, ConfineError> {
    // A fork's child has one thread, the one that forked; a filtered template's child may
    // not even open `/proc` to count them.
    if !template.filtered {
        single_threaded()?;
    }
    let mut layers = Vec::with_capacity(layer::ALL.len());
    for (name, state) in &template.layers {
        // What a fork brought in from the template beyond its standard streams.
        let state = if *name == layer::FDS_CLOSED {
            fds::close_inherited()?
        } else {
            state.clone()
        };
        layers.push((*name, state));
    }
    layers.push((layer::CAPABILITIES_DROPPED, caps::drop_all()?));
    layers.push((layer::NO_NEW_PRIVS, set_no_new_privs()?));
    layers.push((layer::RLIMITS, rlimits::apply(policy)?));
    layers.push((layer::LANDLOCK, landlock_rules::deny_all()?));
    let seccomp = if template.filtered {
        seccomp::narrow(policy.audit)?
    } else {
        seccomp::install(policy.audit)?
    };
    layers.push((layer::SECCOMP, seccomp));
    Ok(Report { layers })
}

pub(crate) fn filter_template(
    template: &mut Template,
    policy: &Policy,
) -> Result<(), ConfineError> {
    single_threaded()?;
    set_no_new_privs()?;
    seccomp::install_template(policy.audit)?;
    template.filtered = true;
    Ok(())
}

/// Threads of this process, from `/proc/self/task`; `None` when `/proc` is not mounted (then
/// the namespace and Landlock steps below report their own errors if threads exist).
fn single_threaded() -> Result<(), ConfineError> {
    match thread_count() {
        Some(threads) if threads > 1 => Err(ConfineError::Threaded { threads }),
        _ => Ok(()),
    }
}

fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|entries| entries.count())
}

/// Without this, Landlock and seccomp could not be applied unprivileged, and a set-uid
/// program could regain privileges (not that the worker may exec one).
fn set_no_new_privs() -> Result<LayerState, ConfineError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(LayerState::Active)
    } else {
        Err(failed(layer::NO_NEW_PRIVS, std::io::Error::last_os_error()))
    }
}

fn failed(layer: &'static str, reason: impl std::fmt::Display) -> ConfineError {
    ConfineError::LayerFailed {
        layer,
        reason: reason.to_string(),
    }
}
