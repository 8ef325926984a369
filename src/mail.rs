//! Outgoing mail: SMTP when `SMTP_URL` is set, otherwise one `.eml` file per message in
//! `MAIL_OUTBOX_DIR`, so development and tests need no mail server.
use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{FileTransport, Message, SmtpTransport, Transport};
use secrecy::ExposeSecret;

use crate::config::Settings;

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport_,
}

#[derive(Clone)]
enum Transport_ {
    Smtp(SmtpTransport),
    Outbox(FileTransport),
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|_| anyhow::anyhow!("MAIL_FROM: not a mailbox such as \"portcullis <no-reply@example.com>\""))?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport_::Smtp(
                SmtpTransport::from_url(url.expose_secret())
                    .map_err(|_| anyhow::anyhow!("SMTP_URL: not a valid smtp:// or smtps:// URL"))?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&settings.mail_outbox_dir).with_context(|| {
                    format!("MAIL_OUTBOX_DIR: cannot create {}", settings.mail_outbox_dir.display())
                })?;
                Transport_::Outbox(FileTransport::new(&settings.mail_outbox_dir))
            }
        };
        Ok(Self { from, transport })
    }

    /// Sends one plain-text message. Blocking: call it on the blocking pool.
    pub fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("invalid recipient")?)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(seven_bit(&body)?)
            .context("failed to build the message")?;
        match &self.transport {
            Transport_::Smtp(smtp) => smtp.send(&message).map(|_| ()).context("SMTP delivery failed"),
            Transport_::Outbox(outbox) => outbox.send(&message).map(|_| ()).context("writing to the outbox failed"),
        }
    }
}

/// Plain 7-bit text with CRLF line ends, so links stay readable in the raw message instead of
/// being folded by quoted-printable (RFC 5322 allows lines up to 998 characters).
fn seven_bit(body: &str) -> anyhow::Result<lettre::message::Body> {
    if !body.is_ascii() || body.contains('\0') || body.lines().any(|line| line.len() > 998) {
        anyhow::bail!("the message is not 7-bit text");
    }
    let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
    Ok(lettre::message::Body::dangerous_pre_encoded(
        crlf.into_bytes(),
        lettre::message::header::ContentTransferEncoding::SevenBit,
    ))
}
