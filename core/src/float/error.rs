//! Why a float forward pass refused to run. Every check happens before any arithmetic, so an error
//! leaves the caller's logits buffer untouched.

use crate::config::ConfigError;
use crate::input::InputError;
use core::fmt;

/// Why [`crate::float`] could not run.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FloatError {
    /// The config itself is invalid.
    Config(ConfigError),
    /// A classification head was asked for with zero labels.
    NoLabels,
    /// The parameter blob does not have the length the config and head imply.
    ParamsLength { expected: usize, found: usize },
    /// The config's sizes overflow `usize` when multiplied out (a corrupt or absurd config).
    TooLarge,
    /// The caller's scratch buffer is smaller than [`crate::float::scratch_len`] asks for.
    ScratchTooSmall { needed: usize, given: usize },
    /// The caller's logits buffer does not have the length [`crate::float::logits_len`] gives.
    LogitsLength { expected: usize, found: usize },
    /// The sequence itself cannot be run by this config (the check shared with the int8 path).
    Input(InputError),
}

impl fmt::Display for FloatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid config: {e}"),
            Self::NoLabels => write!(f, "a classification head needs at least one label"),
            Self::ParamsLength { expected, found } => {
                write!(f, "parameter blob has {found} floats, the config and head need {expected}")
            }
            Self::TooLarge => write!(f, "the config's tensor sizes overflow this machine's address space"),
            Self::ScratchTooSmall { needed, given } => {
                write!(f, "scratch buffer has {given} floats, this sequence needs {needed}")
            }
            Self::LogitsLength { expected, found } => {
                write!(f, "logits buffer has {found} floats, this sequence and head produce {expected}")
            }
            Self::Input(e) => write!(f, "{e}"),
        }
    }
}

impl From<ConfigError> for FloatError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl core::error::Error for FloatError {}

impl From<InputError> for FloatError {
    fn from(e: InputError) -> Self {
        Self::Input(e)
    }
}
