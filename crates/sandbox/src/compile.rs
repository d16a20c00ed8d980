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

/// The wrapper that turns a plain body into an async function, which the engine parses and
/// then calls. It stays on the first line so that every other line keeps its number.
const BODY_PREFIX: &str = "(async () => {";
const BODY_SUFFIX: &str = "\n})";

/// Native stack the compiling thread gets. Code just under [`MAX_NESTING`] and [`MAX_CHAIN`]
/// took at most about 7 MiB in a debug build (whose frames are the largest), so this leaves
/// four times that; a test keeps every shape of such code within half of it.
pub(crate) const COMPILE_STACK_BYTES: usize = 32 * 1024 * 1024;

/// What the agent wrote, made ready for QuickJS.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// JavaScript to evaluate as a global script in strict mode; its completion value is
    /// the function to call.
    pub js: String,
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
///
/// Must run on a thread with [`COMPILE_STACK_BYTES`] of stack: oxc recurses on the caller's
/// stack, and [`MAX_NESTING`] and [`MAX_CHAIN`] are what keep it within that.
pub(crate) fn compile(source: &str) -> Result<Compiled, ExecutionError> {
    check_nesting(source)?;
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
    let is_function = is_function_snippet(&program);

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
    let code = escape_nul(generated.code);
    let (js, first_line_shift) = if is_function {
        (code, 0)
    } else {
        (
            format!("{BODY_PREFIX}{code}{BODY_SUFFIX}"),
            BODY_PREFIX.len() as u32,
        )
    };
    Ok(Compiled {
        js,
        map,
        first_line_shift,
        source: source.to_string(),
    })
}

/// The engine takes a script as a C string, so a raw NUL (legal inside a string, template
/// or regular expression literal, the only places it can stand) becomes `\u0000`, which
/// means the same character there.
fn escape_nul(code: String) -> String {
    if code.contains('\0') {
        code.replace('\0', "\\u0000")
    } else {
        code
    }
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

/// Deepest nesting of brackets the sandbox compiles: `(`, `[`, `{`, a template's `${` and a
/// type argument list's `<` each open a level. oxc's parser, semantic analysis, transformer
/// and code generator recurse once (or more) per level on the compiling thread, and a stack
/// overflow there aborts the whole process: no `catch_unwind` stops it. Real code stays far
/// below this; data nested deeper can be built in a loop.
pub(crate) const MAX_NESTING: usize = 1000;

/// Deepest chain of tokens the sandbox compiles within one nesting level: operators, calls and
/// members chained in one expression (`a + b + ...`, `!!!x`, `f()()()`), or statements nested
/// without braces (`if (a) if (b) ...`, `else if` chains). Each link is another level of
/// recursion for oxc, like a bracket, though a cheaper one.
pub(crate) const MAX_CHAIN: usize = 5000;

/// Rejects code nested deeper than [`MAX_NESTING`] or chained longer than [`MAX_CHAIN`],
/// before oxc sees it.
///
/// A single pass over the source with a small lexer: strings, comments, template text and
/// regular expression literals are skipped; everything else is a token. The measure is an
/// over-estimate of how deep any of oxc's passes can recurse: every bracket is a level, and
/// every token between two places where the parser is certainly back at a list (after `,`,
/// after `;` or a line break that ends a statement) counts as one more. The height of a
/// bracketed group is computed bottom-up, so a left-deep chain (`((x) + a) + a ...`) counts in
/// full even though the parser itself loops over it; the later passes recurse over it.
fn check_nesting(source: &str) -> Result<(), ExecutionError> {
    match Scanner::new(source).run() {
        Ok(()) => Ok(()),
        Err(Exceeded::Nesting(at)) => Err(compile_error(
            source,
            &format!(
                "nesting deeper than {MAX_NESTING} levels: brackets, braces, parentheses or type \
                 arguments nest more deeply than the sandbox compiles; build deeply nested data \
                 in a loop instead"
            ),
            Span::new(at, at),
        )),
        Err(Exceeded::Chain(at)) => Err(compile_error(
            source,
            &format!(
                "expression nesting deeper than {MAX_CHAIN} levels: too many operators, calls or \
                 unbraced statements are chained in one expression or statement; split it into \
                 several statements"
            ),
            Span::new(at, at),
        )),
    }
}

enum Exceeded {
    Nesting(u32),
    Chain(u32),
}

/// What opened a nesting level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// The whole program.
    Root,
    /// `(`; `header` when it follows `if`, `for`, `while`, `with`, `switch` or `catch`, after
    /// which a statement (so possibly a regular expression) starts.
    Paren {
        header: bool,
    },
    Bracket,
    /// `{`; `block` when it is a block or body after which a statement starts, not an object
    /// literal, a type literal or the body of a function or class expression.
    Brace {
        block: bool,
    },
    /// A template literal's `${`: its `}` resumes the template's text.
    Template,
    /// `<`: type arguments, or a less-than (closed by `>`, a closing bracket or the end of
    /// the statement, whichever comes first).
    Angle,
}

struct Level {
    open: Open,
    /// Tokens of the current segment (since the last `,` or statement end).
    tokens: usize,
    /// The tallest group closed within the current segment.
    child: usize,
    /// The tallest finished segment.
    best: usize,
}

impl Level {
    fn new(open: Open) -> Self {
        Level {
            open,
            tokens: 0,
            child: 0,
            best: 0,
        }
    }

    fn height(&self) -> usize {
        self.best.max(self.tokens + self.child)
    }
}

/// The previous token, as far as the next one's meaning depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last<'s> {
    Start,
    /// An identifier or keyword; `property` after `.` or `?.` (then it is a name, whatever
    /// it spells).
    Word {
        text: &'s str,
        property: bool,
    },
    /// A number, string, template or regular expression.
    Literal,
    /// Any other punctuator, by its first byte.
    Punct(u8),
    /// `:`; `statement` after `case x` or `default`, or a label, where a block may follow.
    Colon {
        statement: bool,
    },
    Arrow,
    /// `++`, `--` or `!`; `postfix` right after an operand on the same line (for `!`, the
    /// TypeScript non-null assertion).
    Unary {
        postfix: bool,
    },
    Dot,
    /// A closing bracket and what it closed.
    Close(Open),
}

/// Keywords after which an expression (so possibly a regular expression) starts, that are
/// never identifiers in strict module code.
fn is_operator_keyword(word: &str) -> bool {
    matches!(
        word,
        "return"
            | "typeof"
            | "instanceof"
            | "in"
            | "new"
            | "delete"
            | "void"
            | "throw"
            | "case"
            | "do"
            | "else"
            | "yield"
            | "await"
            | "extends"
            | "export"
            | "default"
            | "import"
            | "let"
            | "const"
            | "var"
            | "if"
            | "for"
            | "while"
            | "with"
            | "switch"
            | "catch"
            | "try"
            | "finally"
            | "function"
            | "class"
            | "enum"
            | "implements"
            | "interface"
            | "package"
            | "private"
            | "protected"
            | "public"
            | "static"
    )
}

/// Words that continue the statement on the line before (so a line break before them is
/// not the end of a statement).
fn continues_statement(word: &str) -> bool {
    matches!(
        word,
        "else"
            | "while"
            | "catch"
            | "finally"
            | "in"
            | "instanceof"
            | "of"
            | "as"
            | "satisfies"
            | "extends"
            | "implements"
            | "is"
    )
}

impl<'s> Last<'s> {
    /// Whether a `/` here starts a regular expression (rather than dividing).
    fn regex_allowed(self) -> bool {
        match self {
            Last::Start | Last::Punct(_) | Last::Colon { .. } | Last::Arrow => true,
            Last::Word { text, property } => !property && is_operator_keyword(text),
            Last::Literal | Last::Dot => false,
            Last::Unary { postfix } => !postfix,
            Last::Close(open) => match open {
                Open::Paren { header } => header,
                Open::Brace { block } => block,
                Open::Angle => true,
                Open::Root | Open::Bracket | Open::Template => false,
            },
        }
    }

    /// Whether an operand (or a statement) may end here.
    fn ends_operand(self) -> bool {
        match self {
            Last::Word { text, property } => property || !is_operator_keyword(text),
            Last::Literal => true,
            Last::Unary { postfix } => postfix,
            Last::Close(open) => !matches!(open, Open::Paren { header: true }),
            Last::Start | Last::Punct(_) | Last::Colon { .. } | Last::Arrow | Last::Dot => false,
        }
    }

    /// Whether a statement starts after this token (so `function` and `class` declare).
    fn starts_statement(self) -> bool {
        match self {
            Last::Start | Last::Punct(b';' | b'{' | b'}') | Last::Colon { statement: true } => true,
            Last::Word { text, property } => {
                !property && matches!(text, "else" | "do" | "try" | "finally")
            }
            Last::Close(Open::Paren { header: true } | Open::Brace { block: true }) => true,
            _ => false,
        }
    }

    fn is_word(self, word: &str) -> bool {
        matches!(self, Last::Word { text, property: false } if text == word)
    }
}

/// A `function` or `class` whose body has not opened yet.
#[derive(Clone, Copy)]
struct PendingBody {
    /// Index of the level the keyword is on; the body is the next `{` on it.
    level: usize,
    /// A function or class expression: after its body an operator, not a statement, follows.
    expression: bool,
}

struct Scanner<'s> {
    source: &'s str,
    bytes: &'s [u8],
    pos: usize,
    levels: Vec<Level>,
    /// Σ (tokens + 1) over the open levels: how deep the parser can be right now.
    running: usize,
    last: Last<'s>,
    before_last: Last<'s>,
    /// A line break since the last token.
    newline: bool,
    /// A `;` was seen: the next token ends the statement unless it is `else` or `while`.
    semicolon: bool,
    /// `case` or `default` seen at this level index: its `:` is a statement colon.
    case_at: Option<usize>,
    pending: Option<PendingBody>,
    /// Set when the scanner is inside a template's text (at the start, or after `}`).
    in_template: bool,
    /// A slash before this offset starts no regular expression (a search from an earlier
    /// one found no end on this line).
    no_regex_before: usize,
}

impl<'s> Scanner<'s> {
    fn new(source: &'s str) -> Self {
        Scanner {
            source,
            bytes: source.as_bytes(),
            pos: 0,
            levels: vec![Level::new(Open::Root)],
            running: 1,
            last: Last::Start,
            before_last: Last::Start,
            newline: false,
            semicolon: false,
            case_at: None,
            pending: None,
            in_template: false,
            no_regex_before: 0,
        }
    }

    fn at(&self) -> u32 {
        u32::try_from(self.pos).unwrap_or(u32::MAX)
    }

    fn peek(&self, offset: usize) -> u8 {
        self.bytes.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn top(&mut self) -> &mut Level {
        self.levels
            .last_mut()
            .expect("the root level is never closed")
    }

    fn run(mut self) -> Result<(), Exceeded> {
        if self.source.starts_with("#!") {
            self.skip_line();
        }
        while self.pos < self.bytes.len() {
            if self.in_template {
                self.template_text()?;
                continue;
            }
            let byte = self.bytes[self.pos];
            match byte {
                b'\n' | b'\r' => {
                    self.newline = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | 0x0b | 0x0c => self.pos += 1,
                b'/' if self.peek(1) == b'/' => self.skip_line(),
                b'/' if self.peek(1) == b'*' => self.skip_block_comment(),
                b'/' if self.last.regex_allowed() && self.pos >= self.no_regex_before => {
                    match self.regex_end() {
                        Ok(end) => {
                            self.token(Last::Literal)?;
                            self.pos = end;
                        }
                        Err(stop) => {
                            // Not a regular expression (or an unterminated one, where the
                            // parser stops). Later slashes on this line are not rescanned, so
                            // the scan stays linear.
                            self.no_regex_before = stop;
                            self.token(Last::Punct(byte))?;
                            self.pos += 1;
                        }
                    }
                }
                b'\'' | b'"' => {
                    self.token(Last::Literal)?;
                    self.skip_string(byte);
                }
                b'`' => {
                    self.token(Last::Literal)?;
                    self.pos += 1;
                    self.in_template = true;
                }
                b'(' => {
                    let header = matches!(
                        self.last,
                        Last::Word {
                            text: "if" | "for" | "while" | "with" | "switch" | "catch",
                            property: false
                        }
                    ) || (self.last.is_word("await")
                        && self.before_last.is_word("for"));
                    self.open(Open::Paren { header })?;
                }
                b'[' => self.open(Open::Bracket)?,
                b'{' => {
                    let block = self.brace_is_block();
                    self.open(Open::Brace { block })?;
                }
                b'<' => self.open(Open::Angle)?,
                b')' => self.close(|open| matches!(open, Open::Paren { .. }))?,
                b']' => self.close(|open| open == Open::Bracket)?,
                b'}' => {
                    self.close(|open| matches!(open, Open::Brace { .. } | Open::Template))?;
                    if self.last == Last::Close(Open::Template) {
                        self.in_template = true;
                    }
                }
                b'>' if self.top().open == Open::Angle => {
                    self.close(|open| open == Open::Angle)?;
                }
                b'=' if self.peek(1) == b'>' => {
                    self.token(Last::Arrow)?;
                    self.pos += 2;
                }
                b'.' if self.peek(1).is_ascii_digit() => self.number()?,
                b'.' if self.peek(1) == b'.' && self.peek(2) == b'.' => {
                    self.token(Last::Punct(b'.'))?;
                    self.pos += 3;
                }
                b'.' => {
                    self.token(Last::Dot)?;
                    self.pos += 1;
                }
                b'?' if self.peek(1) == b'.' && !self.peek(2).is_ascii_digit() => {
                    self.token(Last::Dot)?;
                    self.pos += 2;
                }
                b'+' | b'-' if self.peek(1) == byte => {
                    let postfix = self.last.ends_operand() && !self.newline;
                    self.token(Last::Unary { postfix })?;
                    self.pos += 2;
                }
                b'!' => {
                    let postfix = self.last.ends_operand() && !self.newline;
                    self.token(Last::Unary { postfix })?;
                    self.pos += 1;
                }
                b':' => {
                    let statement = self.colon_is_statement();
                    self.token(Last::Colon { statement })?;
                    self.pos += 1;
                }
                b';' => {
                    self.end_angles();
                    self.token(Last::Punct(b';'))?;
                    self.pos += 1;
                    self.semicolon = true;
                }
                b',' => {
                    self.token(Last::Punct(b','))?;
                    self.pos += 1;
                    self.end_segment();
                }
                b'0'..=b'9' => self.number()?,
                _ if byte.is_ascii_alphabetic() || matches!(byte, b'_' | b'$' | b'\\' | b'#') => {
                    self.word()?
                }
                _ if byte >= 0x80 => {
                    let c = self.source[self.pos..].chars().next().unwrap_or(' ');
                    if matches!(c, '\u{2028}' | '\u{2029}') {
                        self.newline = true;
                        self.pos += c.len_utf8();
                    } else if c.is_whitespace() || c == '\u{feff}' {
                        self.pos += c.len_utf8();
                    } else {
                        self.word()?;
                    }
                }
                _ => {
                    self.token(Last::Punct(byte))?;
                    self.pos += 1;
                }
            }
        }
        while self.levels.len() > 1 {
            self.pop()?;
        }
        if self.levels[0].height() > MAX_CHAIN {
            return Err(Exceeded::Chain(self.at()));
        }
        Ok(())
    }

    /// Accounts for a token that is about to be consumed at `self.pos`.
    fn token(&mut self, kind: Last<'s>) -> Result<(), Exceeded> {
        if std::mem::take(&mut self.semicolon) {
            let continues = matches!(
                kind,
                Last::Word {
                    text: "else" | "while",
                    property: false
                }
            );
            if !continues {
                self.end_statement();
            }
        } else if self.newline && self.last.ends_operand() {
            if let Last::Word {
                text,
                property: false,
            } = kind
            {
                if !continues_statement(text) {
                    self.end_statement();
                }
            }
        }
        self.newline = false;
        self.top().tokens += 1;
        self.running += 1;
        self.before_last = self.last;
        self.last = kind;
        if self.running > MAX_CHAIN {
            return Err(Exceeded::Chain(self.at()));
        }
        Ok(())
    }

    /// Closes the `<` levels of the current statement: a `<` that was a less-than.
    fn end_angles(&mut self) {
        while self.levels.len() > 1 && self.top().open == Open::Angle {
            // An angle level never exceeds the chain limit here: `pop` checked it as it grew.
            let _ = self.pop();
        }
    }

    /// A statement ended: the parser is back at the statement list of this level.
    fn end_statement(&mut self) {
        self.end_angles();
        self.end_segment();
        if self.case_at == Some(self.levels.len() - 1) {
            self.case_at = None;
        }
    }

    fn end_segment(&mut self) {
        let level = self
            .levels
            .last_mut()
            .expect("the root level is never closed");
        level.best = level.best.max(level.tokens + level.child);
        self.running -= level.tokens;
        level.tokens = 0;
        level.child = 0;
    }

    fn open(&mut self, open: Open) -> Result<(), Exceeded> {
        let last = match open {
            Open::Angle => Last::Punct(b'<'),
            Open::Paren { .. } => Last::Punct(b'('),
            Open::Bracket => Last::Punct(b'['),
            Open::Brace { .. } => Last::Punct(b'{'),
            Open::Template | Open::Root => Last::Punct(b'$'),
        };
        self.token(last)?;
        self.pos += if open == Open::Template { 2 } else { 1 };
        self.levels.push(Level::new(open));
        self.running += 1;
        if self.levels.len() - 1 > MAX_NESTING {
            return Err(Exceeded::Nesting(self.at()));
        }
        if self.running > MAX_CHAIN {
            return Err(Exceeded::Chain(self.at()));
        }
        Ok(())
    }

    /// Pops the innermost level into its parent.
    fn pop(&mut self) -> Result<Open, Exceeded> {
        let level = self.levels.pop().expect("the root level is never closed");
        self.running -= level.tokens + 1;
        let height = level.height() + 1;
        if height > MAX_CHAIN {
            return Err(Exceeded::Chain(self.at()));
        }
        let parent = self.top();
        parent.child = parent.child.max(height);
        let depth = self.levels.len();
        if self.pending.is_some_and(|p| p.level >= depth) {
            self.pending = None;
        }
        if self.case_at.is_some_and(|c| c >= depth) {
            self.case_at = None;
        }
        Ok(level.open)
    }

    /// A closing bracket: closes the open `<` levels, then the bracket it matches (a closer
    /// that matches nothing is left to the parser to report).
    fn close(&mut self, matches: impl Fn(Open) -> bool) -> Result<(), Exceeded> {
        let closer = self.bytes[self.pos];
        if closer != b'>' {
            self.end_angles();
        }
        // Line-break rules look at the closer like at any token, but it counts in no segment.
        if std::mem::take(&mut self.semicolon) {
            self.end_statement();
        }
        self.newline = false;
        self.pos += 1;
        if self.levels.len() > 1 && matches(self.top().open) {
            let open = self.pop()?;
            self.before_last = self.last;
            self.last = Last::Close(open);
        } else {
            self.before_last = self.last;
            self.last = Last::Punct(closer);
        }
        Ok(())
    }

    /// Whether the `{` at `self.pos` opens a block or body (after which statements follow).
    fn brace_is_block(&mut self) -> bool {
        let depth = self.levels.len() - 1;
        if let Some(pending) = self.pending.filter(|p| p.level == depth) {
            let body = matches!(self.last, Last::Word { .. } | Last::Close(_));
            if body {
                self.pending = None;
                return !pending.expression;
            }
        }
        match self.last {
            Last::Arrow => true,
            Last::Close(Open::Paren { .. } | Open::Angle | Open::Brace { block: true }) => true,
            Last::Word {
                text,
                property: false,
            } => {
                matches!(text, "else" | "do" | "try" | "finally" | "static")
                    || !(is_operator_keyword(text) || matches!(text, "as" | "satisfies" | "of"))
            }
            last => last.starts_statement(),
        }
    }

    /// Whether the `:` at `self.pos` ends a `case` or a label (a block may follow it).
    fn colon_is_statement(&mut self) -> bool {
        let depth = self.levels.len() - 1;
        if self.case_at == Some(depth) {
            self.case_at = None;
            return true;
        }
        let in_block = matches!(self.top().open, Open::Root | Open::Brace { block: true });
        in_block
            && matches!(self.last, Last::Word { text, property: false } if !is_operator_keyword(text))
            && self.before_last.starts_statement()
    }

    fn word(&mut self) -> Result<(), Exceeded> {
        let start = self.pos;
        while self.pos < self.bytes.len() {
            let byte = self.bytes[self.pos];
            if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'$' | b'#') {
                self.pos += 1;
            } else if byte == b'\\' {
                // A `\u0041` escape: part of the name.
                self.pos += 2;
            } else if byte >= 0x80 {
                let c = self.source[self.pos..].chars().next().unwrap_or(' ');
                if c.is_whitespace() || c == '\u{feff}' {
                    break;
                }
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        self.pos = self.pos.min(self.bytes.len());
        let text = self.source.get(start..self.pos).unwrap_or("");
        let property = self.last == Last::Dot;
        // Undo the advance for `token`, which looks at nothing but its argument.
        let kind = Last::Word { text, property };
        let end = self.pos;
        self.pos = start;
        if !property && matches!(text, "function" | "class") {
            let before = if self.last.is_word("async") {
                self.before_last
            } else {
                self.last
            };
            let declares = if self.last.is_word("async") {
                before.starts_statement()
            } else {
                self.last.starts_statement() || (self.newline && self.last.ends_operand())
            };
            self.pending = Some(PendingBody {
                level: self.levels.len() - 1,
                expression: !declares,
            });
        }
        let in_block = matches!(self.top().open, Open::Root | Open::Brace { block: true });
        if !property && in_block && matches!(text, "case" | "default") {
            self.case_at = Some(self.levels.len() - 1);
        }
        self.token(kind)?;
        self.pos = end;
        Ok(())
    }

    fn number(&mut self) -> Result<(), Exceeded> {
        self.token(Last::Literal)?;
        self.pos += 1;
        while self.pos < self.bytes.len() {
            let byte = self.bytes[self.pos];
            if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn skip_line(&mut self) {
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'\n' | b'\r' => return,
                0xe2 if self.is_unicode_line_break() => return,
                _ => self.pos += 1,
            }
        }
    }

    fn is_unicode_line_break(&self) -> bool {
        self.peek(1) == 0x80 && matches!(self.peek(2), 0xa8 | 0xa9)
    }

    fn skip_block_comment(&mut self) {
        self.pos += 2;
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'*' if self.peek(1) == b'/' => {
                    self.pos += 2;
                    return;
                }
                b'\n' | b'\r' => self.newline = true,
                0xe2 if self.is_unicode_line_break() => self.newline = true,
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn skip_string(&mut self, quote: u8) {
        self.pos += 1;
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                // An escape, or a line continuation (`\` and CR LF: three bytes).
                b'\\' if self.peek(1) == b'\r' && self.peek(2) == b'\n' => self.pos += 3,
                b'\\' => self.pos += 2,
                // An unterminated string: the parser reports it here.
                b'\n' | b'\r' => return,
                byte if byte == quote => {
                    self.pos += 1;
                    return;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Where a regular expression literal starting at `self.pos` ends; or, when none does
    /// on this line (the `/` divides), where the search stopped.
    fn regex_end(&self) -> Result<usize, usize> {
        let mut i = self.pos + 1;
        let mut class = false;
        loop {
            let Some(&byte) = self.bytes.get(i) else {
                return Err(i);
            };
            match byte {
                b'\\' if matches!(self.bytes.get(i + 1), Some(b'\n' | b'\r')) => return Err(i),
                b'\\' => i += 1,
                b'\n' | b'\r' => return Err(i),
                0xe2 if self.bytes.get(i + 1) == Some(&0x80)
                    && matches!(self.bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    return Err(i)
                }
                b'[' => class = true,
                b']' => class = false,
                b'/' if !class => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
        while self.bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
            i += 1;
        }
        Ok(i)
    }

    /// A template's text, up to its end or its next `${`.
    fn template_text(&mut self) -> Result<(), Exceeded> {
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'\\' => self.pos += 2,
                b'`' => {
                    self.pos += 1;
                    self.in_template = false;
                    return Ok(());
                }
                b'$' if self.peek(1) == b'{' => {
                    // Counted like any bracket; the template's text is no token.
                    self.in_template = false;
                    return self.open(Open::Template);
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.pos.min(self.bytes.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape_is_wrapped_on_the_first_line() {
        let compiled = compile("const a: number = 1;\nreturn a;").unwrap();
        assert!(compiled.js.starts_with(BODY_PREFIX));
        assert!(!compiled.js.contains(": number"));
    }

    #[test]
    fn function_shape_is_called() {
        let compiled = compile("async (): Promise<number> => { return 1 }").unwrap();
        assert!(!compiled.js.starts_with(BODY_PREFIX));
        assert!(!compiled.js.ends_with(BODY_SUFFIX), "{}", compiled.js);
    }

    #[test]
    fn syntax_error_points_at_the_line() {
        let err = compile("const a = 1;\nconst b = = 2;\nreturn b;").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Syntax);
        let location = err.location.unwrap();
        assert_eq!(location.line, 2);
        assert_eq!(location.source_line, "const b = = 2;");
    }

    /// Code just under the limits, of every shape that makes oxc recurse.
    fn worst_cases() -> Vec<(&'static str, String)> {
        let n = MAX_NESTING - 2;
        let c = MAX_CHAIN - 20;
        vec![
            (
                "brackets",
                format!("return {}1{};", "[".repeat(n), "]".repeat(n)),
            ),
            (
                "parens",
                format!("return {}1{};", "(".repeat(n), ")".repeat(n)),
            ),
            ("blocks", format!("{}{}", "{".repeat(n), "}".repeat(n))),
            (
                "objects",
                format!("return {}1{};", "{a:".repeat(n), "}".repeat(n)),
            ),
            (
                "mixed",
                format!("return {}1{};", "({a:[".repeat(n / 3), "]})".repeat(n / 3)),
            ),
            (
                "calls in parens",
                format!("return {}1{};", "f(".repeat(n), ")".repeat(n)),
            ),
            (
                "arrow bodies",
                format!("return {}1{};", "() => {".repeat(n / 2), "}".repeat(n / 2)),
            ),
            (
                "functions",
                format!(
                    "{}{}",
                    "function f(a: number): number {".repeat(n / 2),
                    "}".repeat(n / 2)
                ),
            ),
            (
                "templates",
                format!("return {}1{};", "`${".repeat(n / 2), "}`".repeat(n / 2)),
            ),
            (
                "type args",
                format!("let x: {}number{} = 1;", "Array<".repeat(n), ">".repeat(n)),
            ),
            (
                "object types",
                format!("let x: {}number{};", "{a:".repeat(n), "}".repeat(n)),
            ),
            ("nots", format!("return {}x;", "!".repeat(c))),
            ("negations", format!("return {}x;", "- ".repeat(c))),
            ("typeofs", format!("return {}x;", "typeof ".repeat(c))),
            ("awaits", format!("return {}x;", "await ".repeat(c))),
            ("news", format!("return {}X;", "new ".repeat(c))),
            ("sums", format!("return {}1;", "1+".repeat(c / 2))),
            ("powers", format!("return {}1;", "2**".repeat(c / 3))),
            (
                "assignments",
                format!("let a; return {}1;", "a=".repeat(c / 2)),
            ),
            ("conditionals", format!("return {}1;", "a?1:".repeat(c / 4))),
            ("arrows", format!("return {}1;", "x=>".repeat(c / 2))),
            ("call chain", format!("return f{};", "()".repeat(c))),
            ("member chain", format!("return a{};", ".b".repeat(c / 2))),
            ("index chain", format!("return a{};", "[0]".repeat(c))),
            ("ifs", format!("{}x;", "if (a) ".repeat(c / 2))),
            (
                "else ifs",
                format!("if (a) x; {}", "else if (a) x; ".repeat(c / 7)),
            ),
            ("labels", format!("{}x;", "a: ".repeat(c / 2))),
            ("whiles", format!("{}x;", "while (a) ".repeat(c / 2))),
            (
                "unions",
                format!("let x: {}number;", "number | ".repeat(c / 2)),
            ),
            ("keyofs", format!("let x: {}T;", "keyof ".repeat(c))),
            ("array types", format!("let x: number{};", "[]".repeat(c))),
            (
                "conditional types",
                format!("type T<X> = {}1;", "X extends 1 ? 1 : ".repeat(c / 6)),
            ),
            (
                "qualified names",
                format!("let x: a{};", ".b".repeat(c / 2)),
            ),
            ("strings", format!("return {}'x';", "'x' + ".repeat(c / 2))),
            ("as chain", format!("return x{};", " as any".repeat(c / 2))),
            (
                "satisfies chain",
                format!("return x{};", " satisfies any".repeat(c / 2)),
            ),
            ("non-null chain", format!("return x{};", "!".repeat(c))),
            (
                "optional chain",
                format!("return a{};", "?.b".repeat(c / 2)),
            ),
            (
                "spreads",
                format!("return {}1{};", "[...".repeat(n), "]".repeat(n)),
            ),
            (
                "array patterns",
                format!("const {}a{} = x;", "[".repeat(n), "]".repeat(n)),
            ),
            (
                "object patterns",
                format!("const {}a{} = x;", "{a:".repeat(n), "}".repeat(n)),
            ),
            (
                "assignment patterns",
                format!("let a; {}a{} = x;", "[".repeat(n), "]".repeat(n)),
            ),
            (
                "class expressions",
                format!(
                    "return {}1{};",
                    "(class { m() { return ".repeat(n / 5),
                    "} })".repeat(n / 5)
                ),
            ),
            (
                "namespaces",
                format!("{}{}", "namespace a { ".repeat(n / 3), "}".repeat(n / 3)),
            ),
            (
                "dotted namespace",
                format!("namespace a{} {{}}", ".b".repeat(c / 2)),
            ),
            (
                "enum sums",
                format!("enum E {{ A = {}1 }}", "1+".repeat(c / 2)),
            ),
            (
                "async arrows",
                format!(
                    "return {}1{};",
                    "(async () => await ".repeat(n / 3),
                    ")()".repeat(n / 3)
                ),
            ),
            (
                "generic arrows",
                format!("return {}1;", "<T>(x: T) => ".repeat(c / 8)),
            ),
            (
                "function types",
                format!("let f: {}number;", "(x: number) => ".repeat(c / 6)),
            ),
            (
                "tuple types",
                format!("let x: {}number{};", "[".repeat(n), "]".repeat(n)),
            ),
            (
                "parenthesized types",
                format!("let x: {}number{};", "(".repeat(n), ")".repeat(n)),
            ),
            (
                "template types",
                format!("let x: {}1{};", "`${".repeat(n / 2), "}`".repeat(n / 2)),
            ),
            (
                "try blocks",
                format!("{}{}", "try { ".repeat(n / 2), "} finally {}".repeat(n / 2)),
            ),
            ("for loops", format!("{}x;", "for (;;) ".repeat(c / 5))),
            (
                "do whiles",
                format!("{}x;{}", "do ".repeat(c / 6), " while (a);".repeat(c / 6)),
            ),
            ("comma in ifs", format!("{}x, y;", "if (a) ".repeat(c / 2))),
            ("decorators", format!("{}class A {{}}", "@d ".repeat(c / 2))),
            (
                "generic calls",
                format!("return {}x{};", "f<T>(".repeat(n / 2), ")".repeat(n / 2)),
            ),
            (
                "sequence nests",
                format!("return {}1{};", "(a, ".repeat(n), ")".repeat(n)),
            ),
            (
                "ternary nests",
                format!(
                    "return {}1{};",
                    "a ? (".repeat(n / 2),
                    ") : 0".repeat(n / 2)
                ),
            ),
        ]
    }

    /// Every shape just under the limits compiles within half the stack the sandbox gives
    /// the compiler (debug builds, the largest frames; the largest took about 7 MiB).
    #[test]
    fn code_just_under_the_limits_compiles_within_the_stack() {
        for (name, code) in worst_cases() {
            let outcome = std::thread::Builder::new()
                .stack_size(COMPILE_STACK_BYTES / 2)
                .spawn(move || compile(&code).map(|_| ()))
                .unwrap()
                .join()
                .unwrap();
            if let Err(error) = outcome {
                panic!("{name}: {}", error.message);
            }
        }
    }

    fn rejected(code: &str) -> Option<String> {
        check_nesting(code).err().map(|e| e.message)
    }

    #[test]
    fn nesting_past_the_limit_is_a_syntax_error_naming_it() {
        let deep = MAX_NESTING + 1;
        for code in [
            format!("return {}1{};", "[".repeat(deep), "]".repeat(deep)),
            format!("return {}1{};", "(".repeat(deep), ")".repeat(deep)),
            format!("{}{}", "{".repeat(deep), "}".repeat(deep)),
            "[".repeat(100_000),
            format!("let x: {}1;", "Array<".repeat(deep)),
            format!("return {};", "`${".repeat(deep)),
        ] {
            let message = rejected(&code).expect("rejected");
            assert!(
                message.contains("nesting deeper than 1000 levels"),
                "{message}"
            );
        }
        for code in [
            format!("return {}x;", "!".repeat(100_000)),
            format!("return {}1;", "1+".repeat(100_000)),
            format!("return f{};", "()".repeat(100_000)),
            format!("{}x;", "if (a) ".repeat(100_000)),
            format!("{}x;", "if (a)\n".repeat(100_000)),
            format!("if (a) x; {}", "else if (a) x; ".repeat(100_000)),
            format!("if (a) x\n{}", "else if (a) x\n".repeat(100_000)),
            format!("return a{};", "\n.b".repeat(100_000)),
            format!("let x: A<{}1>;", "x, A<".repeat(100_000)),
            format!(
                "{}x; {}",
                "do ".repeat(100_000),
                "while (a);".repeat(100_000)
            ),
        ] {
            let message = rejected(&code).expect("rejected");
            assert!(message.contains("levels"), "{message}");
        }
        let error = compile(&format!("const a = 1;\nreturn {};", "(".repeat(5000))).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Syntax);
        assert_eq!(error.location.unwrap().line, 2);
    }

    #[test]
    fn brackets_in_strings_comments_templates_and_regexes_do_not_count() {
        let many = "(".repeat(5000);
        for code in [
            format!("return '{many}';"),
            format!("return \"{many}\";"),
            format!("return `{many}`;"),
            format!("return `${{1}}{many}${{2}}`;"),
            format!("// {many}\nreturn 1;"),
            format!("/* {many} */ return 1;"),
            format!("return /{}/.source;", "\\(".repeat(5000)),
            format!("return /[{many}]/.source;"),
            format!("if (x) {{}}\n/[{many}]/.test('');"),
            format!("const a = 1, b = 2; return a / b / {};", "1 / ".repeat(100)),
            format!("return 'it\\'s {many}';"),
        ] {
            assert_eq!(rejected(&code), None, "{code:.80}");
        }
    }

    #[test]
    fn a_division_is_not_mistaken_for_a_regex_that_would_hide_brackets() {
        let deep = "(".repeat(MAX_NESTING + 5);
        for code in [
            format!("x = a / {deep} / 1"),
            format!("x = {{}} / {deep} / 1"),
            format!("x = function () {{}} / {deep} / 1"),
            format!("x = class {{}} / {deep} / 1"),
            format!("x = y[0] / {deep} / 1"),
            format!("x = (a) / {deep} / 1"),
            format!("x = a++ / {deep} / 1"),
            format!("x = a! / {deep} / 1"),
            format!("x = a.return / {deep} / 1"),
            format!("x = {{ default: {{}} / {deep} / 1 }}"),
            format!("x = `${{a}}` / {deep} / 1"),
            format!("x = 'a' / {deep} / 1"),
            format!("x = 1 / {deep} / 1"),
        ] {
            assert!(rejected(&code).is_some(), "{code:.60}");
        }
        // And a regex is not mistaken for a division whose quote would hide them.
        for code in [
            format!("if (a) {{}}\n/'/; {deep}"),
            format!("switch (a) {{ case 1: {{}} /'/; {deep} }}"),
            format!("function f() {{}}\n/'/; {deep}"),
            format!("x = () => {{}}\n/'/; {deep}"),
            format!("if (a) /'/.test(b); {deep}"),
            format!("return /'/; {deep}"),
            format!("x = !/'/; {deep}"),
            format!("x = a\n!/'/; {deep}"),
        ] {
            assert!(rejected(&code).is_some(), "{code:.60}");
        }
    }

    #[test]
    fn ordinary_code_is_far_from_the_limits() {
        let mut code = String::new();
        for i in 0..3000 {
            code.push_str(&format!(
                "const v{i} = await tools.orders.list({{ since: '2026', page: {i} }})\n"
            ));
        }
        code.push_str(&format!("return [{}];", vec!["1"; 100_000].join(", ")));
        assert_eq!(rejected(&code), None);
        // An `else if` chain nests one statement per branch; a thousand branches is fine.
        let mut code = String::new();
        for i in 0..1000 {
            code.push_str(&format!("if (x === {i}) {{ y = {i} }}\nelse "));
        }
        code.push_str("{ y = -1 }");
        assert_eq!(rejected(&code), None);
        let data = format!("const data = {};", serde_json_like(12));
        assert_eq!(rejected(&data), None);
    }

    fn serde_json_like(depth: usize) -> String {
        if depth == 0 {
            return "1".into();
        }
        format!(
            "{{ \"a\": [{}, {}], \"b\": \"x\" }}",
            serde_json_like(depth - 1),
            depth
        )
    }
}
