//! [`SceneKind`]: what a scene buffer's payload is.

use std::fmt;
use std::str::FromStr;

use crate::DescriptorError;

/// The longest user-defined kind, in bytes.
pub const MAX_KIND_LEN: usize = 64;

/// What a scene buffer's payload is: one of four well-known kinds, or a kind the programs at
/// both ends agree on.
///
/// In a descriptor's `kind` field a kind is a string: `"Geometry"`, `"AnimationCache"`,
/// `"Screenshot"`, `"Arbitrary"` (exactly so, case-sensitive) or a user-defined name of 1 to
/// [`MAX_KIND_LEN`] characters of `A-Z a-z 0-9 . _ - : /`. A user-defined name that spells one
/// of the four is that well-known kind, so each kind has one spelling.
///
/// ```
/// use shm_ring::SceneKind;
/// assert_eq!("Geometry".parse::<SceneKind>()?, SceneKind::Geometry);
/// assert_eq!(SceneKind::custom("usd:stage")?.as_str(), "usd:stage");
/// assert_eq!(SceneKind::custom("Screenshot")?, SceneKind::Screenshot);
/// assert!("no spaces".parse::<SceneKind>().is_err());
/// # Ok::<(), shm_ring::DescriptorError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum SceneKind {
    /// A mesh or other geometry.
    Geometry,
    /// Baked animation: per-frame transforms or point positions.
    AnimationCache,
    /// A rendered image.
    Screenshot,
    /// Bytes of no particular kind (the default).
    #[default]
    Arbitrary,
    /// A user-defined kind: build it with [`SceneKind::custom`], which checks the name.
    Custom(String),
}

impl SceneKind {
    /// The kind named `name`: a well-known kind if `name` spells one, otherwise a user-defined
    /// kind, if `name` is 1 to [`MAX_KIND_LEN`] characters of `A-Z a-z 0-9 . _ - : /`
    /// ([`DescriptorError::Invalid`] otherwise).
    ///
    /// ```
    /// use shm_ring::SceneKind;
    /// assert_eq!(SceneKind::custom("pointcloud")?, SceneKind::Custom("pointcloud".into()));
    /// assert!(SceneKind::custom("").is_err());
    /// # Ok::<(), shm_ring::DescriptorError>(())
    /// ```
    pub fn custom(name: &str) -> Result<SceneKind, DescriptorError> {
        Ok(match name {
            "Geometry" => SceneKind::Geometry,
            "AnimationCache" => SceneKind::AnimationCache,
            "Screenshot" => SceneKind::Screenshot,
            "Arbitrary" => SceneKind::Arbitrary,
            _ => {
                check_custom(name)?;
                SceneKind::Custom(name.to_owned())
            }
        })
    }

    /// The kind's spelling in a descriptor.
    ///
    /// ```
    /// assert_eq!(shm_ring::SceneKind::AnimationCache.as_str(), "AnimationCache");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            SceneKind::Geometry => "Geometry",
            SceneKind::AnimationCache => "AnimationCache",
            SceneKind::Screenshot => "Screenshot",
            SceneKind::Arbitrary => "Arbitrary",
            SceneKind::Custom(name) => name,
        }
    }

    /// Checks a kind built by hand (a `Custom` holding a name that [`SceneKind::custom`]
    /// would refuse or would turn into a well-known kind).
    pub(crate) fn check(&self) -> Result<(), DescriptorError> {
        match self {
            SceneKind::Custom(name) => match SceneKind::custom(name)? {
                SceneKind::Custom(_) => Ok(()),
                _ => Err(DescriptorError::Invalid {
                    field: "kind",
                    reason: format!("Custom({name:?}) spells a well-known kind; use that"),
                }),
            },
            _ => Ok(()),
        }
    }
}

fn check_custom(name: &str) -> Result<(), DescriptorError> {
    let invalid = |reason: String| DescriptorError::Invalid {
        field: "kind",
        reason,
    };
    if name.is_empty() || name.len() > MAX_KIND_LEN {
        return Err(invalid(format!(
            "{name:?} is {} bytes long; a kind has 1 to {MAX_KIND_LEN}",
            name.len()
        )));
    }
    if let Some(ch) = name
        .chars()
        .find(|&ch| !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-' | ':' | '/')))
    {
        return Err(invalid(format!(
            "{name:?} has the character {ch:?}; a kind has only A-Z a-z 0-9 . _ - : /"
        )));
    }
    Ok(())
}

impl FromStr for SceneKind {
    type Err = DescriptorError;

    fn from_str(name: &str) -> Result<SceneKind, DescriptorError> {
        SceneKind::custom(name)
    }
}

impl fmt::Display for SceneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
