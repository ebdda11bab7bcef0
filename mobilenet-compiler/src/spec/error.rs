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
    let source_line = origin.text.lines().nth(line.saturating_sub(1) as usize).unwrap_or("").to_string();
    SpecError::At(Box::new(Located { file: origin.file.clone(), line, column, message, source_line }))
}

pub(super) fn from_yaml(origin: &Origin, err: &serde_saphyr::Error) -> SpecError {
    let message = DefaultMessageFormatter.format_message(err).into_owned();
    located(origin, err.location().unwrap_or(Location::UNKNOWN), message)
}
