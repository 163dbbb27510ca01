use crate::input::InputError;
use crate::model_file::ModelFileError;
use core::fmt;

/// Why [`crate::model_file::Model::run`] refused an input or an arena.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RunError {
    /// The sequence itself cannot be run by this config (the check shared with the float path).
    Input(InputError),
    /// The arena is smaller than `arena_bytes` for this sequence length.
    ArenaTooSmall { needed: usize, found: usize },
    /// The arena does not start at a 4-byte aligned address.
    ArenaMisaligned { address: usize },
    /// The executor asks for more workers than the encoder supports.
    TooManyWorkers { workers: usize, max: usize },
    /// The buffer given to `Model::pack_weights` is smaller than `Model::packed_weights_bytes`.
    PackedBufferTooSmall { needed: usize, found: usize },
    /// The pre-packed weights were packed from another model's bytes.
    PackedForAnotherModel,
    /// A tensor view failed (cannot happen for a model that passed `from_bytes`).
    Model(ModelFileError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PackedBufferTooSmall { needed, found } => {
                write!(f, "buffer for the packed weights is {found} bytes, {needed} are needed")
            }
            Self::PackedForAnotherModel => {
                write!(f, "the pre-packed weights were packed from another model than the one run")
            }
            Self::Input(e) => write!(f, "{e}"),
            Self::ArenaTooSmall { needed, found } => {
                write!(f, "the arena has {found} bytes, this sequence needs {needed} (see arena_bytes)")
            }
            Self::ArenaMisaligned { address } => write!(f, "the arena at {address:#x} is not 4-byte aligned"),
            Self::TooManyWorkers { workers, max } => write!(f, "{workers} workers requested, at most {max}"),
            Self::Model(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for RunError {}

impl From<InputError> for RunError {
    fn from(e: InputError) -> Self {
        Self::Input(e)
    }
}

impl From<ModelFileError> for RunError {
    fn from(e: ModelFileError) -> Self {
        Self::Model(e)
    }
}
