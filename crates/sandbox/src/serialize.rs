//! JSON out of the sandbox, written in Rust and counted as it is written.
//!
//! A snippet's returned value and the values it logs become text here. Every byte is counted
//! while it is written and the count stops at the cap, so no getter, `toJSON`, Proxy trap or
//! prototype accessor can push the output past its limit or make it invalid JSON: whatever
//! they return is only ever data to this writer. The walk polls the execution's limits, so
//! serialising counts against its CPU and wall time like any other work.
//!
//! It must never call a builtin the snippet can reach: the few it needs are captured by the
//! prelude before the snippet runs and handed over as [`Intrinsics`]. The rules it follows are
//! documented on [`crate::Execution`].

use std::collections::HashSet;

use rquickjs::function::This;
use rquickjs::{qjs, Ctx, Function, Object, Type, Value};

/// Objects nested deeper than this are written as a marker string.
const MAX_DEPTH: usize = 64;
/// What each open array or object holds back: its closer and the marker that says how much
/// was left out (`,"…":"18446744073709551615 more keys"` is 40 bytes).
const PER_OPEN: usize = 48;
/// Room a cut string needs for its quotes and `… [N more characters]`.
const CUT_MARK: usize = 40;
/// Keys longer than this are cut like strings, whatever the room.
const KEY_MAX: usize = 256;
/// How many steps of the walk pass between two looks at the clock.
const POLL_EVERY: u32 = 256;

/// Builtins captured by the prelude before the snippet ran.
pub(crate) struct Intrinsics<'js> {
    string: Function<'js>,
    slice: Function<'js>,
    keys: Function<'js>,
    is_array: Function<'js>,
    date_time: Function<'js>,
    date_iso: Function<'js>,
    map_entries: Function<'js>,
    map_next: Function<'js>,
    map_size: Function<'js>,
    set_values: Function<'js>,
    set_next: Function<'js>,
    set_size: Function<'js>,
}

impl<'js> Intrinsics<'js> {
    /// Reads them from the object the prelude returns under `intrinsics`.
    pub(crate) fn from_prelude(bridge: &Object<'js>) -> rquickjs::Result<Self> {
        let js: Object = bridge.get("intrinsics")?;
        Ok(Intrinsics {
            string: js.get("string")?,
            slice: js.get("slice")?,
            keys: js.get("keys")?,
            is_array: js.get("isArray")?,
            date_time: js.get("dateTime")?,
            date_iso: js.get("dateIso")?,
            map_entries: js.get("mapEntries")?,
            map_next: js.get("mapNext")?,
            map_size: js.get("mapSize")?,
            set_values: js.get("setValues")?,
            set_next: js.get("setNext")?,
            set_size: js.get("setSize")?,
        })
    }
}

/// Why a value could not be written.
#[derive(Debug)]
pub(crate) enum Halt {
    /// A limit of the execution ran out; the caller's stop record says which.
    Expired,
    /// The value's own code threw, or the engine failed (a pending exception).
    Js(rquickjs::Error),
}

impl From<rquickjs::Error> for Halt {
    fn from(error: rquickjs::Error) -> Self {
        Halt::Js(error)
    }
}

/// Text within a byte cap, and whether anything was cut to fit.
#[derive(Debug)]
pub(crate) struct Capped {
    pub(crate) text: String,
    pub(crate) truncated: bool,
}

/// The value as JSON text of at most `cap` bytes; `None` for what JSON leaves out at the top
/// (`undefined`, functions, symbols). `expired` is asked now and then whether a limit ran out.
pub(crate) fn to_json<'js>(
    ctx: &Ctx<'js>,
    js: &Intrinsics<'js>,
    value: Value<'js>,
    cap: usize,
    expired: &dyn Fn() -> bool,
) -> Result<Option<Capped>, Halt> {
    let mut writer = Writer::new(ctx, js, cap, expired);
    if !writer.value(value, Key::Root, 0)? {
        if !writer.full {
            return Ok(None);
        }
        // Not even a cut scalar fit in the cap.
        writer.out.clear();
        writer.out.push_str("null");
    }
    Ok(Some(writer.finish()))
}

/// One console line, as `console.log` prints its arguments, in at most `cap` bytes: strings
/// as they are, objects as JSON, errors with their stacks.
pub(crate) fn to_log_line<'js>(
    ctx: &Ctx<'js>,
    js: &Intrinsics<'js>,
    args: Vec<Value<'js>>,
    cap: usize,
    expired: &dyn Fn() -> bool,
) -> Result<Capped, Halt> {
    let mut writer = Writer::new(ctx, js, cap, expired);
    for (i, arg) in args.into_iter().enumerate() {
        if writer.full {
            break;
        }
        if i > 0 && !writer.raw(" ") {
            break;
        }
        let mark = writer.out.len();
        match writer.log_value(arg) {
            Ok(()) => {}
            Err(Halt::Js(rquickjs::Error::Exception)) => {
                let thrown = ctx.catch();
                // The throw may have left containers open mid-walk.
                writer.out.truncate(mark);
                writer.open = 0;
                writer.path.clear();
                writer.full = false;
                let reason = writer.display(&thrown).unwrap_or_default();
                writer.raw_cut(&format!("[unprintable: {reason}]"));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(writer.finish())
}

/// Where a value sits in its parent: the argument `toJSON` gets.
enum Key<'js> {
    Root,
    Index(u64),
    Name(rquickjs::String<'js>),
}

struct Writer<'a, 'js> {
    ctx: &'a Ctx<'js>,
    js: &'a Intrinsics<'js>,
    expired: &'a dyn Fn() -> bool,
    out: String,
    cap: usize,
    /// Arrays and objects opened and not yet closed; each holds back [`PER_OPEN`] bytes.
    open: usize,
    /// The objects from the root to here, by identity: one met again is a cycle.
    path: Vec<usize>,
    /// Something was cut or left out.
    truncated: bool,
    /// Something did not fit: every open container ends now, with its marker.
    full: bool,
    steps: u32,
}

impl<'a, 'js> Writer<'a, 'js> {
    fn new(
        ctx: &'a Ctx<'js>,
        js: &'a Intrinsics<'js>,
        cap: usize,
        expired: &'a dyn Fn() -> bool,
    ) -> Self {
        Writer {
            ctx,
            js,
            expired,
            out: String::new(),
            cap,
            open: 0,
            path: Vec::new(),
            truncated: false,
            full: false,
            steps: 0,
        }
    }

    fn finish(self) -> Capped {
        Capped {
            text: self.out,
            truncated: self.truncated || self.full,
        }
    }

    /// Bytes that may still be written before the held-back closers and markers.
    fn room(&self) -> usize {
        self.cap
            .saturating_sub(self.out.len() + self.open * PER_OPEN)
    }

    fn tick(&mut self) -> Result<(), Halt> {
        self.steps = self.steps.wrapping_add(1);
        if self.steps.is_multiple_of(POLL_EVERY) && (self.expired)() {
            return Err(Halt::Expired);
        }
        Ok(())
    }

    /// Writes `text` whole, or nothing and marks the output full.
    fn raw(&mut self, text: &str) -> bool {
        if text.len() <= self.room() {
            self.out.push_str(text);
            true
        } else {
            self.full = true;
            false
        }
    }

    /// Writes as much of `text` as fits, cut at a character boundary.
    fn raw_cut(&mut self, text: &str) {
        let room = self.room();
        if text.len() <= room {
            self.out.push_str(text);
            return;
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(&text[..cut]);
        self.full = true;
    }

    /// Writes one value. `false` when nothing was written: JSON leaves it out (`undefined`,
    /// a function, a symbol), or it did not fit (then `full` is set).
    fn value(&mut self, value: Value<'js>, key: Key<'js>, depth: usize) -> Result<bool, Halt> {
        self.tick()?;
        let written = match value.type_of() {
            Type::Undefined | Type::Symbol | Type::Function | Type::Constructor => false,
            Type::Null | Type::Uninitialized | Type::Unknown | Type::Module => self.raw("null"),
            Type::Bool => self.raw(if value.as_bool() == Some(true) {
                "true"
            } else {
                "false"
            }),
            Type::Int => self.raw(&value.as_int().unwrap_or(0).to_string()),
            Type::Float => self.raw(&number(value.as_float().unwrap_or(f64::NAN))),
            Type::String => match value.as_string() {
                Some(text) => self.string(text, usize::MAX)?,
                None => self.raw("null"),
            },
            Type::BigInt => {
                let digits: rquickjs::String = self.js.string.call((value,))?;
                self.string(&digits, usize::MAX)?
            }
            Type::Array | Type::Object | Type::Exception | Type::Promise | Type::Proxy => {
                match value.into_object() {
                    Some(object) => self.object(object, key, depth)?,
                    None => self.raw("null"),
                }
            }
        };
        Ok(written)
    }

    fn object(&mut self, object: Object<'js>, key: Key<'js>, depth: usize) -> Result<bool, Halt> {
        let id = identity(object.as_value());
        if self.path.contains(&id) {
            return self.literal_string("[Circular]");
        }
        if depth >= MAX_DEPTH {
            self.truncated = true;
            return self.literal_string("[Nested too deep]");
        }
        self.path.push(id);
        let written = self.object_body(object, key, depth);
        self.path.pop();
        written
    }

    fn object_body(
        &mut self,
        object: Object<'js>,
        key: Key<'js>,
        depth: usize,
    ) -> Result<bool, Halt> {
        let raw = object.as_value().as_raw();
        // SAFETY: these read the object's class tag and run no JavaScript.
        let (is_date, is_error, is_regexp, is_map, is_set, is_buffer, is_view, typed, is_proxy) = unsafe {
            (
                qjs::JS_IsDate(raw),
                qjs::JS_IsError(raw),
                qjs::JS_IsRegExp(raw),
                qjs::JS_IsMap(raw),
                qjs::JS_IsSet(raw),
                qjs::JS_IsArrayBuffer(raw),
                qjs::JS_IsDataView(raw),
                qjs::JS_GetTypedArrayType(raw) >= 0,
                qjs::JS_IsProxy(raw),
            )
        };
        if is_date {
            let time: f64 = self.js.date_time.call((This(object.clone()),))?;
            if !time.is_finite() {
                return Ok(self.raw("null"));
            }
            let iso: rquickjs::String = self.js.date_iso.call((This(object),))?;
            return self.string(&iso, usize::MAX);
        }
        let to_json: Value = object.get("toJSON")?;
        if let Some(to_json) = to_json.as_function() {
            let key = match key {
                Key::Root => rquickjs::String::from_str(self.ctx.clone(), "")?,
                Key::Index(i) => rquickjs::String::from_str(self.ctx.clone(), &i.to_string())?,
                Key::Name(name) => name,
            };
            let replaced: Value = to_json.call((This(object.clone()), key.clone()))?;
            if identity(&replaced) != identity(object.as_value()) {
                return self.value(replaced, Key::Name(key), depth + 1);
            }
        }
        let is_array = object.as_value().is_array()
            || (is_proxy && self.js.is_array.call::<_, bool>((object.clone(),))?);
        if is_array || typed {
            let length: f64 = object.get("length")?;
            let length = if length.is_finite() && length > 0.0 {
                length as u64
            } else {
                0
            };
            return self.array(length, depth, |_, i| object.get::<_, Value>(i as u32));
        }
        if is_set {
            let size: f64 = self.js.set_size.call((This(object.clone()),))?;
            let iterator: Object = self.js.set_values.call((This(object),))?;
            let next = self.js.set_next.clone();
            return self.array(size.max(0.0) as u64, depth, |_, _| {
                let step: Object = next.call((This(iterator.clone()),))?;
                step.get::<_, Value>("value")
            });
        }
        if is_map {
            let size: f64 = self.js.map_size.call((This(object.clone()),))?;
            let iterator: Object = self.js.map_entries.call((This(object),))?;
            let next = self.js.map_next.clone();
            let string = self.js.string.clone();
            return self.fields(size.max(0.0) as u64, true, depth, |_| {
                let step: Object = next.call((This(iterator.clone()),))?;
                if step.get::<_, bool>("done")? {
                    return Ok(None);
                }
                let entry: Object = step.get("value")?;
                let name: rquickjs::String = string.call((entry.get::<_, Value>(0)?,))?;
                Ok(Some((name, entry.get::<_, Value>(1)?)))
            });
        }
        if is_regexp {
            let text: rquickjs::String = self.js.string.call((object,))?;
            return self.string(&text, usize::MAX);
        }
        if is_buffer || is_view {
            let bytes: f64 = object.get("byteLength")?;
            let kind = if is_buffer { "ArrayBuffer" } else { "DataView" };
            return self.literal_string(&format!("[{kind} {bytes} bytes]"));
        }
        let names: rquickjs::Array = self.js.keys.call((object.clone(),))?;
        if is_error {
            // `name` and `message` first, whether own or inherited, then the own fields.
            let mut fixed = vec!["name", "message"].into_iter();
            let string = self.js.string.clone();
            let mut at = 0;
            let total = names.len() as u64 + 2;
            return self.fields(total, true, depth, |ctx| {
                if let Some(field) = fixed.next() {
                    let name = rquickjs::String::from_str(ctx.clone(), field)?;
                    let text: Value = string.call((object.get::<_, Value>(field)?,))?;
                    return Ok(Some((name, text)));
                }
                if at >= names.len() {
                    return Ok(None);
                }
                let name: rquickjs::String = names.get(at)?;
                at += 1;
                let value: Value = object.get(name.clone())?;
                Ok(Some((name, value)))
            });
        }
        let mut at = 0;
        let total = names.len() as u64;
        self.fields(total, false, depth, |_| {
            if at >= names.len() {
                return Ok(None);
            }
            let name: rquickjs::String = names.get(at)?;
            at += 1;
            let value: Value = object.get(name.clone())?;
            Ok(Some((name, value)))
        })
    }

    /// An array of `length` items, each fetched by `item` only when it is about to be
    /// written: a sparse array of 2^32 − 1 holes costs what fits, not its length.
    fn array(
        &mut self,
        length: u64,
        depth: usize,
        mut item: impl FnMut(&Ctx<'js>, u64) -> rquickjs::Result<Value<'js>>,
    ) -> Result<bool, Halt> {
        if !self.enter('[') {
            return Ok(false);
        }
        let mut written = 0u64;
        for i in 0..length {
            self.tick()?;
            if self.full {
                break;
            }
            let mark = self.out.len();
            if i > 0 && !self.raw(",") {
                break;
            }
            let value = item(self.ctx, i)?;
            if !self.value(value, Key::Index(i), depth + 1)? && (self.full || !self.raw("null")) {
                self.out.truncate(mark);
                break;
            }
            written += 1;
        }
        self.open -= 1;
        if written < length {
            self.truncated = true;
            let comma = if written > 0 { "," } else { "" };
            self.out
                .push_str(&format!("{comma}\"… {} more items\"", length - written));
        }
        self.out.push(']');
        Ok(true)
    }

    /// An object whose fields `next` yields in order, `total` of them (for the marker).
    /// With `unique`, a key already written is skipped: a Map's `1` and `"1"` are one key.
    fn fields(
        &mut self,
        total: u64,
        unique: bool,
        depth: usize,
        mut next: impl FnMut(&Ctx<'js>) -> rquickjs::Result<Option<(rquickjs::String<'js>, Value<'js>)>>,
    ) -> Result<bool, Halt> {
        if !self.enter('{') {
            return Ok(false);
        }
        let mut seen = HashSet::new();
        let mut visited = 0u64;
        let mut first = true;
        loop {
            self.tick()?;
            if self.full {
                break;
            }
            let Some((name, value)) = next(self.ctx)? else {
                break;
            };
            let mark = self.out.len();
            if !first && !self.raw(",") {
                break;
            }
            let key_start = self.out.len();
            if !self.string(&name, KEY_MAX)? {
                self.out.truncate(mark);
                break;
            }
            if unique && !seen.insert(self.out[key_start..].to_string()) {
                self.out.truncate(mark);
                visited += 1;
                continue;
            }
            if !self.raw(":") {
                self.out.truncate(mark);
                break;
            }
            if !self.value(value, Key::Name(name), depth + 1)? {
                self.out.truncate(mark);
                if self.full {
                    break;
                }
                visited += 1;
                continue;
            }
            visited += 1;
            first = false;
        }
        self.open -= 1;
        if self.full {
            self.truncated = true;
            let comma = if first { "" } else { "," };
            let left = total.saturating_sub(visited);
            self.out
                .push_str(&format!("{comma}\"…\":\"{left} more keys\""));
        }
        self.out.push('}');
        Ok(true)
    }

    /// Opens an array or object if its opener and held-back bytes fit.
    fn enter(&mut self, opener: char) -> bool {
        if self.room() < 1 + PER_OPEN {
            self.full = true;
            return false;
        }
        self.out.push(opener);
        self.open += 1;
        true
    }

    fn literal_string(&mut self, text: &str) -> Result<bool, Halt> {
        let text = rquickjs::String::from_str(self.ctx.clone(), text)?;
        self.string(&text, usize::MAX)
    }

    /// Writes a JavaScript string as a JSON string of at most `limit` bytes (and the room),
    /// cut with a note of how much was left out when it is longer.
    fn string(&mut self, text: &rquickjs::String<'js>, limit: usize) -> Result<bool, Halt> {
        let room = self.room().min(limit);
        let (head, units) = self.head(text, room)?;
        let mut quoted = String::with_capacity(head.len() + 2);
        quoted.push('"');
        escape_into(&mut quoted, &head);
        quoted.push('"');
        if quoted.len() <= room && units <= room {
            self.out.push_str(&quoted);
            return Ok(true);
        }
        if room < CUT_MARK + 8 {
            self.full = true;
            return Ok(false);
        }
        let budget = room - CUT_MARK;
        let start = self.out.len();
        self.out.push('"');
        let mut kept = 0usize;
        let mut one = String::new();
        for c in head.chars() {
            one.clear();
            escape_into(&mut one, c.encode_utf8(&mut [0; 4]));
            if self.out.len() - start + one.len() > budget {
                break;
            }
            self.out.push_str(&one);
            kept += c.len_utf16();
        }
        self.out
            .push_str(&format!("… [{} more characters]\"", units - kept));
        self.truncated = true;
        Ok(true)
    }

    /// At most `max_units` UTF-16 units of `text` as Rust text, and the full length in units.
    /// A 40 MB string costs what fits, not its whole copy.
    fn head(
        &mut self,
        text: &rquickjs::String<'js>,
        max_units: usize,
    ) -> Result<(String, usize), Halt> {
        let units = string_units(self.ctx, text);
        if units <= max_units {
            return Ok((rust_text(self.ctx, text)?, units));
        }
        let head: rquickjs::String = self.js.slice.call((text.clone(), 0.0, max_units as f64))?;
        Ok((rust_text(self.ctx, &head)?, units))
    }

    /// A value as `console.log` shows it.
    fn log_value(&mut self, value: Value<'js>) -> Result<(), Halt> {
        match value.type_of() {
            Type::String => {
                if let Some(text) = value.as_string() {
                    self.plain(text)?;
                }
            }
            Type::Undefined => self.raw_cut("undefined"),
            Type::Function | Type::Constructor => {
                let name = value
                    .as_object()
                    .map(|f| f.get::<_, Value>("name"))
                    .transpose()?
                    .and_then(|name| name.as_string().cloned());
                let name = match name {
                    Some(name) => self.head(&name, KEY_MAX)?.0,
                    None => String::new(),
                };
                let name = if name.is_empty() { "anonymous" } else { &name };
                self.raw_cut(&format!("[Function {name}]"));
            }
            Type::Symbol | Type::BigInt => {
                let text: rquickjs::String = self.js.string.call((value,))?;
                self.plain(&text)?;
            }
            Type::Exception => {
                let Some(error) = value.as_object() else {
                    return Ok(());
                };
                for (field, before) in [("name", ""), ("message", ": ")] {
                    self.raw_cut(before);
                    let text: rquickjs::String =
                        self.js.string.call((error.get::<_, Value>(field)?,))?;
                    self.plain(&text)?;
                }
                let stack: Value = error.get("stack")?;
                if let Some(stack) = stack.as_string() {
                    if string_units(self.ctx, stack) > 0 {
                        self.raw_cut("\n");
                        self.plain(stack)?;
                    }
                }
            }
            _ => {
                if !self.value(value.clone(), Key::Root, 0)? && !self.full {
                    let text: rquickjs::String = self.js.string.call((value,))?;
                    self.plain(&text)?;
                }
            }
        }
        Ok(())
    }

    /// Text as it is, not quoted: as much as fits.
    fn plain(&mut self, text: &rquickjs::String<'js>) -> Result<(), Halt> {
        let room = self.room();
        let (head, _) = self.head(text, room.saturating_add(1))?;
        self.raw_cut(&head);
        Ok(())
    }

    /// Text of a thrown value for "[unprintable: …]".
    fn display(&mut self, thrown: &Value<'js>) -> Result<String, Halt> {
        let message: Value = match thrown.as_object() {
            Some(error) => error.get("message")?,
            None => thrown.clone(),
        };
        let text: rquickjs::String = self.js.string.call((message,))?;
        Ok(self.head(&text, KEY_MAX)?.0)
    }
}

/// A finite number as JavaScript writes it in JSON (integers without a fraction), others
/// as `null`.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e21 {
        if value.abs() < 9.0e15 {
            return (value as i64).to_string();
        }
        return format!("{value:.0}");
    }
    serde_json::Number::from_f64(value)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "null".to_string())
}

/// JSON string escaping, as `JSON.stringify` does it.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// The length of a JavaScript string in UTF-16 units, read from the string itself: no
/// code runs and no property lookup the snippet could intercept.
pub(crate) fn string_units<'js>(ctx: &Ctx<'js>, text: &rquickjs::String<'js>) -> usize {
    // SAFETY: `text` is a live string of this context; QuickJS answers `length` of a string
    // primitive (flat or rope) from the string's header.
    let length =
        unsafe { qjs::JS_GetPropertyStr(ctx.as_raw().as_ptr(), text.as_raw(), c"length".as_ptr()) };
    // SAFETY: an owned value, handed to rquickjs to free.
    let length = unsafe { Value::from_raw(ctx.clone(), length) };
    length
        .as_int()
        .map_or(0, |n| usize::try_from(n).unwrap_or(0))
}

/// A JavaScript string as Rust text. A lone surrogate, which UTF-8 cannot hold, becomes
/// U+FFFD, as any UTF-8 consumer would make of it.
pub(crate) fn rust_text<'js>(ctx: &Ctx<'js>, text: &rquickjs::String<'js>) -> Result<String, Halt> {
    let mut len = 0usize;
    // SAFETY: the context and string are alive; the returned buffer is freed below, after
    // its bytes were copied. No JavaScript runs in between.
    let ptr = unsafe { qjs::JS_ToCStringLen(ctx.as_raw().as_ptr(), &mut len, text.as_raw()) };
    if ptr.is_null() {
        return Err(Halt::Js(rquickjs::Error::Exception));
    }
    // SAFETY: QuickJS returned `len` readable bytes at `ptr`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    let text = well_formed(bytes);
    // SAFETY: `ptr` came from JS_ToCStringLen on this context and is freed once.
    unsafe { qjs::JS_FreeCString(ctx.as_raw().as_ptr(), ptr) };
    Ok(text)
}

/// QuickJS writes a lone surrogate as its three-byte WTF-8 form (`ED A0..BF xx`); anything
/// else it writes is UTF-8.
fn well_formed(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_string();
    }
    let mut fixed = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xED && i + 2 < bytes.len() && (0xA0..=0xBF).contains(&bytes[i + 1]) {
            fixed.extend_from_slice("\u{FFFD}".as_bytes());
            i += 3;
        } else {
            fixed.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&fixed).into_owned()
}

/// The address of a JavaScript object, which names it while it is alive.
pub(crate) fn identity(value: &Value) -> usize {
    if !value.is_object() {
        return 0;
    }
    // SAFETY: the value is an object, so the tag says the payload is a pointer.
    unsafe { qjs::JS_VALUE_GET_PTR(value.as_raw()) as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(f64::INFINITY), "null");
        assert_eq!(number(1e20), "100000000000000000000");
        assert!(serde_json::from_str::<f64>(&number(1e300)).is_ok());
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(well_formed(b"a\xED\xA0\x80b"), "a\u{FFFD}b");
        assert_eq!(well_formed("é".as_bytes()), "é");
    }

    #[test]
    fn escaping_matches_json() {
        let mut out = String::new();
        escape_into(&mut out, "a\"\\\n\u{0}\u{1f}é");
        assert_eq!(out, "a\\\"\\\\\\n\\u0000\\u001fé");
    }
}
