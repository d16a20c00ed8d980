//! Unhandled promise rejections, recorded by QuickJS's rejection tracker and reported as
//! notes. The tracker runs in the middle of the engine's own work: nothing here may run
//! JavaScript, call a getter, or panic.

use rquickjs::{qjs, Ctx, Value};

use crate::serialize;

/// Promise rejections nobody handled, reported as notes: a forgotten `await` on a failing
/// tool call is otherwise silent.
#[derive(Default)]
pub(super) struct Rejections {
    unhandled: Vec<(usize, String)>,
}

impl Rejections {
    const SHOWN: usize = 5;
    const KEPT: usize = 1_000;

    /// Records a rejection (`Some` description) or that a rejected promise got a handler.
    pub(super) fn track(&mut self, promise: usize, unhandled: Option<String>) {
        match unhandled {
            None => self.unhandled.retain(|(p, _)| *p != promise),
            Some(description) if self.unhandled.len() < Self::KEPT => {
                self.unhandled.push((promise, description))
            }
            Some(_) => {}
        }
    }

    pub(super) fn notes(&self, main: usize) -> Vec<String> {
        let unhandled: Vec<&String> = self
            .unhandled
            .iter()
            .filter(|(p, _)| *p != main)
            .map(|(_, message)| message)
            .collect();
        let mut notes: Vec<String> = unhandled
            .iter()
            .take(Self::SHOWN)
            .map(|message| format!("Unhandled promise rejection: {message}"))
            .collect();
        if unhandled.len() > Self::SHOWN {
            notes.push(format!(
                "... and {} more unhandled rejections",
                unhandled.len() - Self::SHOWN
            ));
        }
        notes
    }
}

/// Reads a rejection reason without running any JavaScript: a string, or the `message` of a
/// real error when it is an own data property (a getter is not called, a `toString` is not
/// used), and never more than [`REASON_CHARS`] characters of it.
pub(super) fn describe_reason<'js>(ctx: &Ctx<'js>, reason: &Value<'js>) -> String {
    if let Some(text) = reason.as_string() {
        return short_text(ctx, text).unwrap_or_else(|| "a string".into());
    }
    if reason.is_error() {
        let message = own_data_property(ctx, reason, c"message");
        return match message
            .as_ref()
            .and_then(Value::as_string)
            .and_then(|text| short_text(ctx, text))
        {
            Some(text) if !text.is_empty() => text,
            _ => "an error".into(),
        };
    }
    format!("a {} value", reason.type_name())
}

/// Longest reason text kept for a note: a snippet may reject many promises with huge strings,
/// and each would otherwise be copied out of the heap in full.
const REASON_CHARS: usize = 2_000;

/// A JavaScript string as Rust text, if it is short enough to copy.
fn short_text<'js>(ctx: &Ctx<'js>, text: &rquickjs::String<'js>) -> Option<String> {
    let length = serialize::string_units(ctx, text);
    if length > REASON_CHARS {
        return Some(format!("(a message of {length} characters)"));
    }
    match serialize::rust_text(ctx, text) {
        Ok(text) => Some(text),
        Err(_) => {
            // Out of memory while copying: drop the exception so nothing later sees it.
            drop(ctx.catch());
            None
        }
    }
}

/// An object's own property, only if it is a data property: nothing is called, and objects
/// with exotic behaviour (proxies) are not asked.
fn own_data_property<'js>(
    ctx: &Ctx<'js>,
    object: &Value<'js>,
    key: &std::ffi::CStr,
) -> Option<Value<'js>> {
    if !object.is_object() || object.is_proxy() {
        return None;
    }
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `key` is NUL-terminated; a well-known name is found among existing atoms.
    let atom = unsafe { qjs::JS_NewAtom(raw, key.as_ptr()) };
    if atom == qjs::JS_ATOM_NULL {
        drop(ctx.catch());
        return None;
    }
    let mut descriptor = qjs::JSPropertyDescriptor {
        flags: 0,
        value: qjs::JS_UNDEFINED,
        getter: qjs::JS_UNDEFINED,
        setter: qjs::JS_UNDEFINED,
    };
    // SAFETY: `object` is a live non-proxy object; the descriptor is an out-parameter whose
    // values we own afterwards when the property was found.
    let found = unsafe { qjs::JS_GetOwnProperty(raw, &mut descriptor, object.as_raw(), atom) };
    // SAFETY: the atom was created above.
    unsafe { qjs::JS_FreeAtom(raw, atom) };
    if found < 0 {
        drop(ctx.catch());
        return None;
    }
    if found == 0 {
        return None;
    }
    // SAFETY: found: the three values are owned by us now; rquickjs frees them on drop.
    let (value, getter, setter) = unsafe {
        (
            Value::from_raw(ctx.clone(), descriptor.value),
            Value::from_raw(ctx.clone(), descriptor.getter),
            Value::from_raw(ctx.clone(), descriptor.setter),
        )
    };
    drop((getter, setter));
    if descriptor.flags & qjs::JS_PROP_GETSET as i32 != 0 {
        return None;
    }
    Some(value)
}
