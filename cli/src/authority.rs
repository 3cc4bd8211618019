//! `tokengo authority admit`: a network authority signs an exit's admission certificate; and
//! how an exit loads the certificates it presents.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use tokengo_gateway::keyfile::{KeyFile as _, write_public};
use tokengo_gateway::unix_now;
use tokengo_gateway_proto::certificate::{AdmissionCertificate, Role};
use tokengo_gateway_proto::identity::{Identity, parse_relay_id};

/// `tokengo authority`.
#[derive(Debug, Args)]
pub struct AuthorityArgs {
    #[command(subcommand)]
    command: AuthorityCommand,
}

#[derive(Debug, Subcommand)]
enum AuthorityCommand {
    /// Admit an exit into the network: writes its admission certificate.
    Admit {
        /// The authority key (`tokengo keygen --type authority`).
        #[arg(long)]
        key: PathBuf,
        /// The exit id (hex) to admit, as the exit prints it.
        #[arg(long = "exit", value_name = "EXIT_ID")]
        exit: String,
        /// How long the admission lasts, e.g. `30d`, `12h`.
        #[arg(long, default_value = "30d")]
        valid: String,
        /// Where to write the certificate [default: admission-<first 8 of the exit id>.cert].
        #[arg(long)]
        output: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `tokengo authority`.
pub fn run(args: AuthorityArgs) -> anyhow::Result<()> {
    let AuthorityCommand::Admit {
        key,
        exit,
        valid,
        output,
        force,
    } = args.command;
    let authority =
        Identity::load(&key).with_context(|| format!("authority key {}", key.display()))?;
    let subject =
        parse_relay_id(&exit).ok_or_else(|| anyhow!("exit id must be 64 hex characters"))?;
    let not_after = crate::config::parse_duration(&valid)
        .ok()
        .map(|d| d.as_secs())
        .filter(|s| *s > 0)
        .and_then(|s| unix_now().checked_add(s))
        .ok_or_else(|| anyhow!("--valid must be a positive duration such as 30d or 12h"))?;
    let cert = AdmissionCertificate {
        subject,
        role: Role::Exit,
        not_after,
        authority: authority.public_key(),
    }
    .sign(&authority)?;
    let path = output.unwrap_or_else(|| PathBuf::from(format!("admission-{}.cert", &exit[..8])));
    write_public(&path, B64.encode(cert).as_bytes(), force)
        .with_context(|| format!("writing {}", path.display()))?;
    crate::say!("admission certificate: {}", path.display());
    crate::say!("authority id: {}", authority.id());
    Ok(())
}

/// Loads a certificate file for the exit `identity`, refusing one that does not verify, has
/// expired or admits someone else.
pub fn load_admission(path: &Path, identity: &Identity) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = B64
        .decode(text.trim())
        .with_context(|| format!("{}: not base64", path.display()))?;
    let cert = AdmissionCertificate::verify(&bytes).with_context(|| path.display().to_string())?;
    if !cert
        .admits_exit(&identity.public_key(), unix_now())
        .with_context(|| path.display().to_string())?
    {
        bail!(
            "{} admits another exit, not {}",
            path.display(),
            identity.id()
        );
    }
    Ok(bytes)
}
