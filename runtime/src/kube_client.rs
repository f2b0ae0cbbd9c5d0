//! The Kubernetes client both binaries build the same way: `--kubeconfig`, else the
//! in-cluster service account, else `$KUBECONFIG` / `~/.kube/config`.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Why no client could be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error(
        "no Kubernetes API credentials: not in a cluster ({in_cluster}) and no usable \
         kubeconfig ({kubeconfig}); pass --kubeconfig"
    )]
    NoCredentials {
        in_cluster: String,
        kubeconfig: String,
    },
    #[error("cannot create the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// The client config: `--kubeconfig`, else in-cluster, else `$KUBECONFIG`/`~/.kube/config`.
pub async fn client_config(kubeconfig: Option<&Path>) -> Result<kube::Config, ClientError> {
    if let Some(path) = kubeconfig {
        let file = Kubeconfig::read_from(path).map_err(|source| ClientError::Kubeconfig {
            path: path.to_owned(),
            source,
        })?;
        return kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .map_err(|source| ClientError::Kubeconfig {
                path: path.to_owned(),
                source,
            });
    }
    match kube::Config::incluster() {
        Ok(config) => Ok(config),
        Err(in_cluster) => kube::Config::from_kubeconfig(&KubeConfigOptions::default())
            .await
            .map_err(|kubeconfig| ClientError::NoCredentials {
                in_cluster: in_cluster.to_string(),
                kubeconfig: kubeconfig.to_string(),
            }),
    }
}

/// A client from [`client_config`].
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, ClientError> {
    let config = client_config(kubeconfig).await?;
    kube::Client::try_from(config).map_err(ClientError::Client)
}
