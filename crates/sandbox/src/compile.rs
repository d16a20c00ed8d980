//! TypeScript in, JavaScript plus a way back to the agent's lines out.
//!
//! Types are stripped by oxc (parser, semantic, transformer, codegen); the source map oxc
//! writes is what turns a QuickJS `line:column` back into the agent's TypeScript position.

use std::path::Path;

use oxc::allocator::Allocator;
use oxc::ast::ast::{Expression, ImportExpression, ImportMeta, Program, Statement};
use oxc::ast_visit::{walk, Visit};
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::parser::{ParseOptions, Parser};
use oxc::semantic::SemanticBuilder;
use oxc::span::{GetSpan, SourceType, Span};
use oxc::transformer::{TransformOptions, Transformer};
use oxc_sourcemap::SourceMap;

use crate::error::{ErrorKind, ExecutionError, SourceLocation};

/// The name QuickJS gives the agent's code in stack traces; frames from anything else
/// (the prelude) are dropped from the stacks the agent sees.
pub(crate) const SNIPPET_FILE: &str = "snippet.ts";

/// The wrapper that turns a plain body into an async function call. It stays on the first
/// line so that every other line keeps its number.
const BODY_PREFIX: &str = "(async () => {";
const BODY_SUFFIX: &str = "\n})()";

/// What the agent wrote, made ready for QuickJS.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// JavaScript to evaluate as a global script in strict mode.
    pub js: String,
    /// When true the script's completion value is a function to call (the snippet was
    /// `async () => { ... }`); otherwise the script's value is already the promise.
    pub call_result: bool,
    map: Option<SourceMap<'static>>,
    /// Columns added on the first generated line by the body wrapper.
    first_line_shift: u32,
    source: String,
}

impl Compiled {
    /// Maps a 1-based `line:column` of the generated JavaScript to the agent's TypeScript.
    pub fn original_location(&self, line: u32, column: u32) -> Option<SourceLocation> {
        let map = self.map.as_ref()?;
        let mut dst_line = line.checked_sub(1)?;
        let mut dst_col = column.saturating_sub(1);
        if dst_line == 0 {
            dst_col = dst_col.saturating_sub(self.first_line_shift);
        }
        // A position past the last mapped line (the wrapper's closing line) has no origin.
        let table = map.generate_lookup_table();
        if dst_line as usize >= table.len() {
            dst_line = table.len().checked_sub(1)? as u32;
            dst_col = u32::MAX;
        }
        let token = map.lookup_token(&table, dst_line, dst_col)?;
        Some(self.location(token.get_src_line() + 1, token.get_src_col() + 1))
    }

    fn location(&self, line: u32, column: u32) -> SourceLocation {
        SourceLocation {
            line,
            column,
            source_line: self
                .source
                .lines()
                .nth(line.saturating_sub(1) as usize)
                .map(|l| l.trim_end().to_string())
                .unwrap_or_default(),
        }
    }
}

/// Strips types and prepares the agent's snippet. Both accepted shapes are handled: an
/// async (or plain) function expression, which is called, and a body using top-level
/// `await` and `return`.
pub(crate) fn compile(source: &str) -> Result<Compiled, ExecutionError> {
    let allocator = Allocator::default();
    let source_type = SourceType::ts().with_module(true);
    let parsed = Parser::new(&allocator, source, source_type)
        .with_options(ParseOptions {
            allow_return_outside_function: true,
            ..ParseOptions::default()
        })
        .parse();
    if let Some(diagnostic) = parsed.diagnostics.first() {
        let span = diagnostic
            .labels
            .first()
            .map(|label| Span::new(label.offset(), label.offset() + label.len()));
        return Err(syntax_error(source, &diagnostic.message, span));
    }
    let mut program = parsed.program;
    reject_modules(source, &program)?;
    let call_result = is_function_snippet(&program);

    let semantic = SemanticBuilder::new().with_enum_eval(true).build(&program);
    let scoping = semantic.semantic.into_scoping();
    let options = TransformOptions::default();
    let transformed = Transformer::new(&allocator, Path::new(SNIPPET_FILE), &options)
        .build_with_scoping(scoping, &mut program);
    if let Some(diagnostic) = transformed.diagnostics.first() {
        return Err(syntax_error(source, &diagnostic.message, None));
    }

    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(SNIPPET_FILE.into()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let map = generated.map.map(SourceMap::into_owned);
    let (js, first_line_shift) = if call_result {
        (generated.code, 0)
    } else {
        (
            format!("{BODY_PREFIX}{}{BODY_SUFFIX}", generated.code),
            BODY_PREFIX.len() as u32,
        )
    };
    Ok(Compiled {
        js,
        call_result,
        map,
        first_line_shift,
        source: source.to_string(),
    })
}

/// `async () => {...}` (or a parenthesised or plain function expression) as the only
/// statement means "call me"; anything else is a body.
fn is_function_snippet(program: &Program) -> bool {
    let [Statement::ExpressionStatement(statement)] = program.body.as_slice() else {
        return false;
    };
    let mut expression = &statement.expression;
    while let Expression::ParenthesizedExpression(inner) = expression {
        expression = &inner.expression;
    }
    matches!(
        expression,
        Expression::ArrowFunctionExpression(_) | Expression::FunctionExpression(_)
    )
}

/// The sandbox has no modules: say so at compile time, with the line, instead of letting
/// the agent discover it from a runtime failure.
fn reject_modules(source: &str, program: &Program) -> Result<(), ExecutionError> {
    for statement in &program.body {
        if statement.is_module_declaration() {
            return Err(compile_error(
                source,
                "import and export are not available in the sandbox: tools are reached through \
                 the global `tools` object, and the snippet's value is what it returns",
                statement.span(),
            ));
        }
    }
    let mut finder = ModuleSyntaxFinder::default();
    finder.visit_program(program);
    match finder.found {
        Some(span) => Err(compile_error(
            source,
            "dynamic import() and import.meta are not available in the sandbox: there are no \
             modules to load; tools are reached through the global `tools` object",
            span,
        )),
        None => Ok(()),
    }
}

#[derive(Default)]
struct ModuleSyntaxFinder {
    found: Option<Span>,
}

impl<'a> Visit<'a> for ModuleSyntaxFinder {
    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        self.found.get_or_insert(it.span);
        walk::walk_import_expression(self, it);
    }

    fn visit_import_meta(&mut self, it: &ImportMeta) {
        self.found.get_or_insert(it.span);
    }
}

fn syntax_error(source: &str, message: &str, span: Option<Span>) -> ExecutionError {
    let location = span.map(|span| location_of(source, span.start));
    ExecutionError::new(
        ErrorKind::Syntax,
        format!("SyntaxError: {message}"),
        location,
    )
}

fn compile_error(source: &str, message: &str, span: Span) -> ExecutionError {
    ExecutionError::new(
        ErrorKind::Syntax,
        format!("SyntaxError: {message}"),
        Some(location_of(source, span.start)),
    )
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn location_of(source: &str, offset: u32) -> SourceLocation {
    let offset = (offset as usize).min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() as u32 + 1;
    let column = before[line_start..].chars().count() as u32 + 1;
    let source_line = source[line_start..]
        .lines()
        .next()
        .unwrap_or("")
        .trim_end()
        .to_string();
    SourceLocation {
        line,
        column,
        source_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape_is_wrapped_on_the_first_line() {
        let compiled = compile("const a: number = 1;\nreturn a;").unwrap();
        assert!(!compiled.call_result);
        assert!(compiled.js.starts_with(BODY_PREFIX));
        assert!(!compiled.js.contains(": number"));
    }

    #[test]
    fn function_shape_is_called() {
        let compiled = compile("async (): Promise<number> => { return 1 }").unwrap();
        assert!(compiled.call_result);
    }

    #[test]
    fn syntax_error_points_at_the_line() {
        let err = compile("const a = 1;\nconst b = = 2;\nreturn b;").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Syntax);
        let location = err.location.unwrap();
        assert_eq!(location.line, 2);
        assert_eq!(location.source_line, "const b = = 2;");
    }
}
