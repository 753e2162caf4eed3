//! `hoist login [--username U] [--password-stdin] HOST` and `hoist logout HOST|--all`:
//! the user name and password asked on the terminal (the password without echo) unless
//! given by flag and on stdin; credentials checked against the registry's `/v2/` (and
//! its token realm) before they are saved in the auth file podman and skopeo read
//! (`--authfile`, else `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`).

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::cli::{LoginArgs, LogoutArgs};
use crate::image::registry::auth::{self, Credentials};
use crate::image::registry::{conf, Client};

pub fn login(args: &LoginArgs, ctx: &Ctx) -> Result<ExitCode> {
    let key = auth::normalize_key(&args.host);
    let host = key.split('/').next().unwrap_or_default().to_owned();
    let (username, password) = ask(args, &key)?;
    if password.is_empty() {
        bail!("log in to `{key}`: the password is empty");
    }
    let creds = Credentials { username, password };
    let opts = &ctx.registry;
    let check = || -> Result<()> {
        let insecure = conf::is_insecure(opts, &host, &key)?;
        Client::connect_with(opts, &host, insecure, Some(creds.clone()))?.check_login()?;
        Ok(())
    };
    check().with_context(|| format!("log in to `{key}`"))?;
    let path = auth::login_file(opts);
    auth::save(&path, &key, &creds).with_context(|| format!("save credentials for `{key}`"))?;
    println!("Login Succeeded!");
    Ok(ExitCode::SUCCESS)
}

/// The user name (flag or prompt) and the password (stdin, or typed without echo).
fn ask(args: &LoginArgs, key: &str) -> Result<(String, String)> {
    let stdin = std::io::stdin();
    let prompting = !args.password_stdin;
    if prompting && !stdin.is_terminal() {
        bail!("log in to `{key}`: give the password on stdin with --password-stdin");
    }
    let username = match (&args.username, prompting) {
        (Some(u), _) => u.clone(),
        (None, true) => prompt_line("Username: ")?,
        (None, false) => bail!("log in to `{key}`: give the user name with --username"),
    };
    let password = if prompting {
        let fd = stdin.as_fd();
        let _quiet = crate::sys::no_echo(fd).context("turn terminal echo off")?;
        prompt_line("Password: ")?
    } else {
        let mut p = String::new();
        stdin
            .lock()
            .read_to_string(&mut p)
            .context("read the password from stdin")?;
        p.trim_end_matches(['\n', '\r']).to_owned()
    };
    if username.is_empty() {
        bail!("log in to `{key}`: the user name is empty");
    }
    Ok((username, password))
}

/// Prints `prompt` on stderr and reads one line from stdin.
fn prompt_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("read from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub fn logout(args: &LogoutArgs, ctx: &Ctx) -> Result<ExitCode> {
    let path = auth::login_file(&ctx.registry);
    match &args.host {
        Some(h) => {
            let key = auth::normalize_key(h);
            auth::remove(&path, Some(&key)).with_context(|| format!("log out of `{key}`"))?;
            println!("Removed login credentials for {key}");
        }
        None => {
            auth::remove(&path, None).context("log out of every registry")?;
            println!("Removed login credentials for all registries");
        }
    }
    Ok(ExitCode::SUCCESS)
}
