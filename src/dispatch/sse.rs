//! A Server-Sent Events reader that never reconnects: proxbox-api starts packer again on every
//! open of a build's stream (SPEC §7.2), so the stream is read once, to its end.

/// One event: its name (`message` when none was given) and its data lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field.
    pub name: String,
    /// The `data:` fields.
    pub data: String,
}

/// Cuts a byte stream into events, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct Reader {
    buffer: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
}

impl Reader {
    /// Feeds `chunk`; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        events
    }

    /// One line of the stream; a blank line dispatches the event gathered so far.
    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let data = self.data.take();
            let name = self.name.take();
            return data.map(|data| Event {
                name: name.unwrap_or_else(|| "message".to_owned()),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, Reader};

    #[test]
    fn events_are_cut_whatever_the_chunks() {
        let text = b": keepalive\n\nevent: packer_log\ndata: {\"a\":1}\n\nevent: complete\r\ndata: x\r\ndata: y\r\n\r\n";
        for size in [1, 3, 7, text.len()] {
            let mut reader = Reader::default();
            let mut events = Vec::new();
            for chunk in text.chunks(size) {
                events.extend(reader.push(chunk));
            }
            assert_eq!(
                events,
                vec![
                    Event {
                        name: "packer_log".into(),
                        data: "{\"a\":1}".into()
                    },
                    Event {
                        name: "complete".into(),
                        data: "x\ny".into()
                    },
                ],
                "chunks of {size}"
            );
        }
    }
}
