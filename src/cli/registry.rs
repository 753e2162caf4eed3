//! The registry part of the command line: the global flags every command that talks
//! to registries reads (`--insecure-registry`, `--registries-conf`, `--certs-dir`,
//! `--authfile`), and `hoist login` / `hoist logout`.

use std::path::PathBuf;

use clap::Args;

use crate::image::registry::Options;

/// Global registry flags.
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryFlags {
    /// A registry (HOST[:PORT]) that may be reached over plain HTTP, or HTTPS without
    /// checking its certificate (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]", global = true)]
    pub insecure_registry: Vec<String>,
    /// registries.conf to read instead of /etc/containers/registries.conf.
    #[arg(long, value_name = "FILE", global = true)]
    pub registries_conf: Option<PathBuf>,
    /// Per-registry certificates (HOST:PORT/*.crt) instead of /etc/containers/certs.d.
    #[arg(long, value_name = "DIR", global = true)]
    pub certs_dir: Option<PathBuf>,
    /// The credentials file to read (and `login` to write) instead of the usual ones.
    #[arg(long, value_name = "FILE", global = true)]
    pub authfile: Option<PathBuf>,
}

impl RegistryFlags {
    pub fn options(&self) -> Options {
        Options {
            insecure: self.insecure_registry.clone(),
            registries_conf: self.registries_conf.clone(),
            certs_dir: self.certs_dir.clone(),
            authfile: self.authfile.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The user name.
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry, HOST[:PORT].
    pub host: String,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Remove the credentials of every registry.
    #[arg(long, conflicts_with = "host")]
    pub all: bool,
    /// The registry, HOST[:PORT].
    #[arg(required_unless_present = "all")]
    pub host: Option<String>,
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn registry_flags_are_global_and_repeatable() {
        let c = Cli::try_parse_from([
            "hoist",
            "--insecure-registry",
            "127.0.0.1:5000",
            "--insecure-registry",
            "h:1",
            "fetch",
            "--certs-dir",
            "/c",
            "--authfile",
            "/a.json",
            "docker://127.0.0.1:5000/x",
        ])
        .unwrap();
        let o = c.global.registry.options();
        assert_eq!(o.insecure, ["127.0.0.1:5000", "h:1"]);
        assert_eq!(o.certs_dir.as_deref(), Some(std::path::Path::new("/c")));
        assert_eq!(o.authfile.as_deref(), Some(std::path::Path::new("/a.json")));
        let c =
            Cli::try_parse_from(["hoist", "login", "-u", "me", "--password-stdin", "h:1"]).unwrap();
        let Some(Command::Login(l)) = c.command else {
            panic!("login")
        };
        assert_eq!(
            (l.username.as_deref(), l.password_stdin),
            (Some("me"), true)
        );
        assert!(Cli::try_parse_from(["hoist", "logout"]).is_err());
        assert!(Cli::try_parse_from(["hoist", "logout", "--all", "h:1"]).is_err());
        assert!(Cli::try_parse_from(["hoist", "logout", "--all"]).is_ok());
    }
}
