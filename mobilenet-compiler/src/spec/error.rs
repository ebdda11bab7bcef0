//! Spec errors, always with `file:line:column` and the offending line.

use std::fmt;

use serde_saphyr::{DefaultMessageFormatter, Location, MessageFormatter};

use super::Origin;

/// Why a spec cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A YAML or semantic error at a place in the file.
    #[error("{0}")]
    At(Box<Located>),
}

impl SpecError {
    /// The located part, if the error has a place in the file.
    pub fn located(&self) -> Option<&Located> {
        match self {
            SpecError::At(l) => Some(l),
            SpecError::Io { .. } => None,
        }
    }
}

/// An error at `file:line:column` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// The source line, for the snippet under the message.
    pub source_line: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if !self.source_line.is_empty() {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            let caret = " ".repeat(self.column.saturating_sub(1) as usize);
            write!(f, "\n{pad} |\n{num} | {}\n{pad} | {caret}^", self.source_line)?;
        }
        Ok(())
    }
}

pub(super) fn located(origin: &Origin, at: Location, message: String) -> SpecError {
    let (line, column) = if at == Location::UNKNOWN { (1, 1) } else { (at.line(), at.column()) };
    located_at(origin, line, column, message)
}

fn located_at(origin: &Origin, line: u64, column: u64, message: String) -> SpecError {
    let source_line = yaml_lines(&origin.text).nth(line.saturating_sub(1) as usize).unwrap_or("").to_string();
    SpecError::At(Box::new(Located { file: origin.file.clone(), line, column, message, source_line }))
}

pub(super) fn from_yaml(origin: &Origin, err: &serde_saphyr::Error) -> SpecError {
    let message = DefaultMessageFormatter.format_message(err).into_owned();
    located(origin, err.location().unwrap_or(Location::UNKNOWN), message)
}

/// The lines of `text` as YAML counts them: a line ends at `\r\n`, `\n` or a
/// lone `\r` (`str::lines` does not break at a lone `\r`, so a file with old
/// Mac line ends would quote no line, or the wrong one).
pub(crate) fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\r', '\n']) {
            Some(i) => {
                let next = if t[i..].starts_with("\r\n") { i + 2 } else { i + 1 };
                rest = Some(&t[next..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                (!t.is_empty()).then_some(t)
            }
        }
    })
}

/// An error for a spec file that is not UTF-8 text, at its first invalid byte.
pub(super) fn not_utf8(file: &str, bytes: &[u8], err: &std::str::Utf8Error) -> SpecError {
    let offset = err.valid_up_to();
    // The bytes before the first invalid one are UTF-8.
    let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
    let line = yaml_lines(&format!("{before}.")).count() as u64;
    let line_start = before.rfind(['\r', '\n']).map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() as u64 + 1;
    let origin = Origin { file: file.to_string(), text: String::from_utf8_lossy(bytes).into_owned() };
    let message = format!("the spec is not UTF-8 text: byte 0x{:02x} at offset {offset} is not UTF-8", bytes[offset]);
    located_at(&origin, line, column, message)
}
