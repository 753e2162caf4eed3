//! `hoist login [--username U] [--password-stdin] HOST` and `hoist logout HOST|--all`:
//! credentials checked against the registry's `/v2/` (and its token realm) before they
//! are saved in the auth file podman and skopeo read (`--authfile`, else
//! `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::cli::{LoginArgs, LogoutArgs};
use crate::image::registry::auth::{self, Credentials};
use crate::image::registry::{conf, Client};

pub fn login(args: &LoginArgs, ctx: &Ctx) -> Result<ExitCode> {
    let key = auth::normalize_key(&args.host);
    let host = key.split('/').next().unwrap_or_default().to_owned();
    let Some(username) = args.username.clone() else {
        bail!("log in to `{key}`: give the user name with --username");
    };
    if !args.password_stdin {
        bail!("log in to `{key}`: give the password on stdin with --password-stdin");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("read the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("log in to `{key}`: the password on stdin is empty");
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
