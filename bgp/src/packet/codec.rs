//! Message framing and the per-type dispatch of decoding and encoding (RFC 4271 section
//! 4.1 header, section 6.1 header checks).

use bytes::{BufMut, Bytes, BytesMut};

use super::CodecContext;
use super::error::{AttributeError, DecodeError};
use super::iana::{Afi, AfiSafi, Safi, message_type};
use super::message::{HEADER_LEN, MAX_MESSAGE_LEN, Message, NotificationMsg, RouteRefreshMsg};
use super::open::{decode_open, put_open};
use super::reader::Reader;
use super::update::{decode_update, put_update};

/// The smallest OPEN: header + version, AS, hold time, identifier, parameters length.
const MIN_OPEN_LEN: usize = HEADER_LEN + 10;
/// The smallest UPDATE: header + two empty length fields.
const MIN_UPDATE_LEN: usize = HEADER_LEN + 4;
/// The smallest NOTIFICATION: header + code and subcode.
const MIN_NOTIFICATION_LEN: usize = HEADER_LEN + 2;
/// ROUTE-REFRESH: header + AFI, subtype, SAFI.
const ROUTE_REFRESH_LEN: usize = HEADER_LEN + 4;

/// The length of the first message in `buf` once its header is there (`None` = need
/// more bytes). Checks the marker, the length bounds (19 to the limit of `cx`: 4096, or
/// 65535 with extended messages; OPEN never above 4096) and the minimum length of the
/// message type (RFC 4271 section 6.1, RFC 8654 section 4). A ROUTE-REFRESH of the wrong
/// length is framed and left to [`Message::decode`], which answers with the RFC 7313
/// error.
pub fn frame_len(buf: &[u8], cx: &CodecContext) -> Result<Option<usize>, DecodeError> {
    match buf.first_chunk::<HEADER_LEN>() {
        Some(header) => check_header(header, cx).map(|(len, _)| Some(len)),
        None => Ok(None),
    }
}

/// Validates a header; returns the message length and type.
fn check_header(header: &[u8; HEADER_LEN], cx: &CodecContext) -> Result<(usize, u8), DecodeError> {
    let mut r = Reader::new(header);
    let marker = r.array::<16>().unwrap_or_default();
    if marker != [0xFF; 16] {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let length = r.u16().unwrap_or_default();
    let kind = r.u8().unwrap_or_default();
    let len = usize::from(length);
    let bad_length = DecodeError::BadMessageLength { length };
    if !(HEADER_LEN..=cx.max_message_len()).contains(&len) {
        return Err(bad_length);
    }
    let fits = match kind {
        message_type::OPEN => (MIN_OPEN_LEN..=MAX_MESSAGE_LEN).contains(&len),
        message_type::UPDATE => len >= MIN_UPDATE_LEN,
        message_type::NOTIFICATION => len >= MIN_NOTIFICATION_LEN,
        message_type::KEEPALIVE => len == HEADER_LEN,
        message_type::ROUTE_REFRESH => true,
        message_type => return Err(DecodeError::BadMessageType { message_type }),
    };
    if !fits {
        return Err(bad_length);
    }
    Ok((len, kind))
}

impl Message {
    /// Decodes one whole message (header included). RFC 7606 attribute errors that do
    /// not reset the session are applied silently; [`Message::decode_with_errors`]
    /// reports them.
    pub fn decode(frame: &[u8], cx: &CodecContext) -> Result<Message, DecodeError> {
        Message::decode_with_errors(frame, cx).map(|(message, _)| message)
    }

    /// Decodes one whole message and returns the UPDATE attribute errors that were
    /// handled by attribute discard or treat-as-withdraw (empty for other messages).
    pub fn decode_with_errors(
        frame: &[u8],
        cx: &CodecContext,
    ) -> Result<(Message, Vec<AttributeError>), DecodeError> {
        let short = || DecodeError::BadMessageLength {
            length: u16::try_from(frame.len()).unwrap_or(u16::MAX),
        };
        let header = frame.first_chunk::<HEADER_LEN>().ok_or_else(short)?;
        let (len, kind) = check_header(header, cx)?;
        if frame.len() != len {
            return Err(DecodeError::BadMessageLength { length: len as u16 });
        }
        let length = len as u16;
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        let message = match kind {
            message_type::OPEN => Message::Open(decode_open(body, length)?),
            message_type::UPDATE => {
                let (update, errors) = decode_update(body, cx, length)?;
                return Ok((Message::Update(update), errors));
            }
            message_type::NOTIFICATION => {
                let mut r = Reader::new(body);
                let (Some(code), Some(subcode)) = (r.u8(), r.u8()) else {
                    return Err(DecodeError::BadMessageLength { length });
                };
                Message::Notification(NotificationMsg {
                    code,
                    subcode,
                    data: r.rest().to_vec(),
                })
            }
            message_type::KEEPALIVE => Message::Keepalive,
            message_type::ROUTE_REFRESH => {
                Message::RouteRefresh(decode_route_refresh(frame, body)?)
            }
            message_type => return Err(DecodeError::BadMessageType { message_type }),
        };
        Ok((message, Vec::new()))
    }

    /// The message type octet.
    pub fn message_type(&self) -> u8 {
        match self {
            Message::Open(_) => message_type::OPEN,
            Message::Update(_) => message_type::UPDATE,
            Message::Notification(_) => message_type::NOTIFICATION,
            Message::Keepalive => message_type::KEEPALIVE,
            Message::RouteRefresh(_) => message_type::ROUTE_REFRESH,
        }
    }

    /// Appends the message to `out`. Encoding cannot fail; an UPDATE is the caller's to
    /// keep within `cx.max_message_len()` octets (the `pack_*` functions do).
    pub fn encode(&self, cx: &CodecContext, out: &mut BytesMut) {
        let start = out.len();
        out.reserve(HEADER_LEN + 64);
        out.put_bytes(0xFF, 16);
        out.put_u16(0);
        out.put_u8(self.message_type());
        match self {
            Message::Open(open) => put_open(out, open),
            Message::Update(update) => put_update(out, update, cx),
            Message::Notification(notification) => {
                out.put_u8(notification.code);
                out.put_u8(notification.subcode);
                out.put_slice(&notification.data);
            }
            Message::Keepalive => {}
            Message::RouteRefresh(refresh) => {
                out.put_u16(refresh.family.afi.to_u16());
                out.put_u8(refresh.subtype);
                out.put_u8(refresh.family.safi.to_u8());
            }
        }
        // The length field counts the whole message, header included.
        let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
        if let Some(field) = out.get_mut(start + 16..start + 18) {
            field.copy_from_slice(&len.to_be_bytes());
        }
    }

    /// The message as one buffer.
    pub fn to_bytes(&self, cx: &CodecContext) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(cx, &mut out);
        out.freeze()
    }
}

/// ROUTE-REFRESH (RFC 2918 section 3, RFC 7313 section 3). A length other than 23 is a
/// ROUTE-REFRESH Message Error carrying the whole message (RFC 7313 section 5).
fn decode_route_refresh(frame: &[u8], body: &[u8]) -> Result<RouteRefreshMsg, DecodeError> {
    if frame.len() != ROUTE_REFRESH_LEN {
        return Err(DecodeError::RouteRefreshLength {
            message: frame.to_vec(),
        });
    }
    let mut r = Reader::new(body);
    let (Some(afi), Some(subtype), Some(safi)) = (r.u16(), r.u8(), r.u8()) else {
        return Err(DecodeError::RouteRefreshLength {
            message: frame.to_vec(),
        });
    };
    Ok(RouteRefreshMsg {
        family: AfiSafi {
            afi: Afi::from_u16(afi),
            safi: Safi::from_u8(safi),
        },
        subtype,
    })
}
