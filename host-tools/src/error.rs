//! The host tools' error: one line that names the problem.

use std::fmt;
use std::path::PathBuf;

/// A failed command.
#[derive(Debug)]
pub enum Error {
    /// The runtime rejected a configuration or failed while sampling.
    Runtime(edgediff_runtime::Error),
    /// An input file or option is unusable (the message names the file, node or op).
    Input(String),
    /// A graph cannot be compiled into a pack (names the op or tensor).
    Compile(String),
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Runtime(e) => write!(f, "{e}"),
            Error::Compile(msg) => write!(f, "compile: {msg}"),
            Error::Input(msg) => write!(f, "{msg}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<edgediff_runtime::Error> for Error {
    fn from(e: edgediff_runtime::Error) -> Self {
        Error::Runtime(e)
    }
}
