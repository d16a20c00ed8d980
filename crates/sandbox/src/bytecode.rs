//! The prelude, compiled once per process to QuickJS bytecode.
//!
//! Parsing the prelude's source cost over a millisecond per execution, most of a trivial
//! execution's time; loading its bytecode into each fresh runtime is a fraction of that.
//! rquickjs exposes bytecode only for modules, so this uses the engine's C API directly.

use std::ffi::CString;
use std::sync::OnceLock;

use rquickjs::{qjs, Context, Ctx, Runtime, Value};

/// Compiles `source` (a global script) in a scratch runtime and returns its bytecode.
fn compile(source: &str, filename: &str) -> Result<Vec<u8>, String> {
    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    let context = Context::full(&runtime).map_err(|e| e.to_string())?;
    let source = CString::new(source).map_err(|e| e.to_string())?;
    let filename = CString::new(filename).map_err(|e| e.to_string())?;
    context.with(|ctx| {
        let raw = ctx.as_raw().as_ptr();
        let flags =
            qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_STRICT | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
        // SAFETY: `raw` is the live context of this closure; the source is NUL-terminated
        // and its length excludes the terminator, as JS_Eval requires.
        let function = unsafe {
            qjs::JS_Eval(
                raw,
                source.as_ptr(),
                source.as_bytes().len() as _,
                filename.as_ptr(),
                flags as i32,
            )
        };
        // SAFETY: JS_Eval returned an owned value; `from_raw` takes that ownership.
        let function = unsafe { Value::from_raw(ctx.clone(), function) };
        if function.is_exception() {
            return Err(format!("the prelude does not compile: {:?}", ctx.catch()));
        }
        let mut length = 0;
        // SAFETY: `function` is a compiled script owned by this context.
        let buffer = unsafe {
            qjs::JS_WriteObject(
                raw,
                &mut length,
                function.as_raw(),
                qjs::JS_WRITE_OBJ_BYTECODE as i32,
            )
        };
        if buffer.is_null() {
            return Err("the prelude's bytecode could not be written".to_string());
        }
        // SAFETY: QuickJS wrote `length` bytes at `buffer`, which we copy and then free
        // with the allocator that made it.
        let bytes = unsafe { std::slice::from_raw_parts(buffer, length as usize) }.to_vec();
        unsafe { qjs::js_free(raw, buffer as *mut _) };
        Ok(bytes)
    })
}

/// Evaluates the prelude in `ctx`, from bytecode compiled on first use. Returns the
/// script's completion value.
pub(crate) fn eval_prelude<'js>(
    ctx: &Ctx<'js>,
    source: &'static str,
    filename: &'static str,
) -> rquickjs::Result<Value<'js>> {
    static BYTECODE: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let bytes = match BYTECODE.get_or_init(|| compile(source, filename)) {
        Ok(bytes) => bytes,
        Err(message) => return Err(rquickjs::Exception::throw_internal(ctx, message)),
    };
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: the bytes were written by JS_WriteObject of this same engine build, in this
    // process; reading them back is what they are for.
    let function = unsafe {
        qjs::JS_ReadObject(
            raw,
            bytes.as_ptr(),
            bytes.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        )
    };
    if unsafe { qjs::JS_IsException(function) } {
        return Err(rquickjs::Error::Exception);
    }
    // SAFETY: JS_EvalFunction takes ownership of `function` and returns an owned value.
    let value = unsafe { qjs::JS_EvalFunction(raw, function) };
    // SAFETY: `value` is owned and now handed to rquickjs.
    let value = unsafe { Value::from_raw(ctx.clone(), value) };
    if value.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(value)
}
