//! `dockgate health`: exit 0 only when the server reports SERVING (for healthchecks).

use std::process::ExitCode;
use std::time::Duration;

use dockgate::client::{ClientTls, connect};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::ServerArgs;

/// Check that a dockgate server is serving its policies.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tls: ClientTls = args.server.tls();
    let channel = connect(&args.server.server, &tls, Duration::from_secs(3)).await?;
    let mut client = HealthClient::new(channel);
    let resp = client
        .check(HealthCheckRequest {
            service: "dockgate.v1.PolicyService".into(),
        })
        .await?;
    let status = resp.into_inner().status();
    if status == ServingStatus::Serving {
        println!("SERVING");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}", status.as_str_name());
        Ok(ExitCode::from(1))
    }
}
