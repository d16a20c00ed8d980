//! Host functions for the web helpers the prelude offers (`TextEncoder`, `TextDecoder`,
//! `atob`, `btoa`): pure data conversions in Rust. They must never reach anything outside
//! the values they are given.

use base64::Engine as _;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, TypedArray};

/// Adds the conversions to the prelude's `host` object.
pub(super) fn install<'js>(ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    host.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            TypedArray::<u8>::new(ctx, text.into_bytes())
        })?,
    )?;
    host.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, fatal: Opt<bool>| {
                let bytes: Vec<u8> = match bytes.as_raw() {
                    // SAFETY: the view is alive for this call and no JavaScript runs
                    // while it is copied.
                    Some(raw) => unsafe { raw.as_ref() }.to_vec(),
                    None => Vec::new(),
                };
                let bytes = bytes.as_slice();
                match std::str::from_utf8(bytes) {
                    Ok(text) => Ok(text.to_string()),
                    Err(_) if fatal.0.unwrap_or(false) => Err(Exception::throw_type(
                        &ctx,
                        "TextDecoder: the input is not valid UTF-8",
                    )),
                    Err(_) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                }
            },
        )?,
    )?;
    host.set(
        "btoa",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let bytes: Option<Vec<u8>> = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect();
            match bytes {
                Some(bytes) => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
                None => Err(Exception::throw_dom(
                    &ctx,
                    "InvalidCharacterError",
                    "btoa: the string contains characters outside of Latin1",
                )),
            }
        })?,
    )?;
    host.set(
        "atob",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            match engine.decode(cleaned.as_bytes()) {
                Ok(bytes) => Ok(bytes.into_iter().map(char::from).collect::<String>()),
                Err(_) => Err(Exception::throw_dom(
                    &ctx,
                    "InvalidCharacterError",
                    "atob: the string is not valid base64",
                )),
            }
        })?,
    )?;
    Ok(())
}
