//! The states the API reports, as enums both sides match on: serialized as the lowercase strings
//! the API has always sent (and the database stores).

use serde::{Deserialize, Serialize};

/// Where an object (an upload, then a file) is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectState {
    /// Data key issued, multipart upload open in S3.
    Pending,
    /// S3 holds the whole message and its header was verified.
    Complete,
    /// Aborted by its owner, its sender or the sweeper; S3 dropped the parts.
    Aborted,
    /// Completed in S3 but refused (header or size mismatch) and deleted.
    Rejected,
}

impl ObjectState {
    /// Every state.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Complete, Self::Aborted, Self::Rejected];

    /// As sent and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Complete => "complete",
            Self::Aborted => "aborted",
            Self::Rejected => "rejected",
        }
    }

    /// The state named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for ObjectState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ObjectState;

    #[test]
    fn states_travel_as_the_strings_they_always_were() {
        for state in ObjectState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<ObjectState>(&json).unwrap(), state);
            assert_eq!(ObjectState::from_name(state.as_str()), Some(state));
        }
        assert!(serde_json::from_str::<ObjectState>("\"gone\"").is_err());
    }
}
