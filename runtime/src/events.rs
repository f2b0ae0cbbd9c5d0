//! Publishing Kubernetes Events (events.k8s.io/v1), the same way from both binaries: one
//! [`Recorder`] per process naming the binary and its instance, notes cut to the API's
//! size, and a failure to publish logged, never fatal.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Events are at most 1 kB of note.
pub const MAX_NOTE: usize = 1024;

/// A recorder whose Events name `controller` (e.g. `herald-speaker`) and `instance` (the
/// node, or the controller replica's identity) as their reporter.
pub fn recorder(client: Client, controller: &str, instance: &str) -> Recorder {
    Recorder::new(
        client,
        Reporter {
            controller: controller.to_owned(),
            instance: Some(instance.to_owned()),
        },
    )
}

/// A reference to the Service `namespace/name`, for the `regarding` of an Event.
pub fn service_reference(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("Service".to_owned()),
        namespace: Some(namespace.to_owned()),
        name: Some(name.to_owned()),
        ..ObjectReference::default()
    }
}

/// Publishes one Event about `regarding` with `note` cut to [`MAX_NOTE`]. Returns whether
/// the API server took it; a failure is logged at warn.
pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) -> bool {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note, MAX_NOTE)),
        action: action.to_owned(),
        secondary: None,
    };
    match recorder.publish(&event, regarding).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(
                %error,
                reason,
                namespace = regarding.namespace.as_deref().unwrap_or(""),
                name = regarding.name.as_deref().unwrap_or(""),
                "could not publish Event"
            );
            false
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short".into(), 10), "short");
        let cut = truncate("ééééé".into(), 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("x".repeat(2000), MAX_NOTE).len(), MAX_NOTE);
    }
}
