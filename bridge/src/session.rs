//! The Zenoh session both directions open: the user's configuration file, if any, with the
//! bridge's fixed settings on top (docs/BRIDGE.md gives the reason for each).

use zenoh::{Config, Session, Wait};

use crate::{fail, Common, Failure};

/// Room above the largest message for what Zenoh sends with it, in bytes.
const HEADER_ROOM: usize = 64 << 10;

/// The settings the bridge fixes, as (configuration key, JSON5 value) pairs.
fn fixed_settings(common: &Common, largest_message: usize) -> Vec<(&'static str, String)> {
    let endpoints =
        |list: &[String]| serde_json::to_string(list).expect("a list of strings is valid JSON");
    vec![
        ("mode", "\"peer\"".to_owned()),
        // Only the endpoints given: without this, a peer listens on `tcp/[::]:0`, every
        // interface, and connects to whatever the scouting finds.
        ("listen/endpoints", endpoints(&common.listen)),
        ("connect/endpoints", endpoints(&common.connect)),
        ("scouting/multicast/enabled", "false".to_owned()),
        ("scouting/gossip/enabled", "false".to_owned()),
        // The shared-memory feature is not compiled in; this keeps the configuration honest
        // about it whatever a configuration file says.
        ("transport/shared_memory/enabled", "false".to_owned()),
        ("transport/link/tx/lease", common.lease_ms.to_string()),
        // What a peer can make this process allocate to reassemble one message (1 GiB by
        // default): what the ring can carry, and room for Zenoh's own header (key expression,
        // attachment). A larger message is dropped by Zenoh, which the sequence numbers report.
        (
            "transport/link/rx/max_message_size",
            (largest_message + HEADER_ROOM).to_string(),
        ),
        // In microseconds. Never -1 (wait forever), which aborts the process in zenoh 1.10.
        (
            "transport/link/tx/queue/congestion_control/block/wait_before_close",
            (common.timeout_ms * 1000).to_string(),
        ),
    ]
}

/// Opens a peer-mode session with the fixed settings over `--config FILE` (or Zenoh's
/// defaults), receiving messages of at most `largest_message` bytes.
pub(crate) fn open(common: &Common, largest_message: usize) -> Result<Session, Failure> {
    let mut config = match &common.config {
        Some(path) => Config::from_file(path)
            .map_err(|e| fail(format!("cannot read the Zenoh configuration {path:?}: {e}")))?,
        None => Config::default(),
    };
    for (key, value) in fixed_settings(common, largest_message) {
        config.insert_json5(key, &value).map_err(|e| {
            fail(format!(
                "cannot set the Zenoh setting {key} to {value}: {e}"
            ))
        })?;
    }
    zenoh::open(config)
        .wait()
        .map_err(|e| fail(format!("cannot open the Zenoh session: {e}")))
}
