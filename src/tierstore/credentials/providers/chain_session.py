"""The botocore session the shared-files provider runs botocore's own providers in: it reads the
chain's environment, never the process's (see :mod:`.shared_files`)."""

from __future__ import annotations

from collections.abc import Mapping

import botocore.client
import botocore.config
import botocore.configprovider
import botocore.session


class ChainSession(botocore.session.Session):
    """A botocore session whose clients find their endpoint in the chain's environment.

    botocore's own lookup of ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL`` reads
    ``os.environ``: a server resolving a store's chain must see the chain's environment, and the
    store's STS endpoint when the profile names none. The role profiles' STS clients are made
    here (botocore's assume-role providers call ``create_client("sts", ...)``).
    """

    def __init__(self, environ: Mapping[str, str], sts_endpoint: str | None) -> None:
        super().__init__()
        self._chain_environ = dict(environ)
        self._store_sts_endpoint = sts_endpoint

    def configured_endpoint(self, service_name: str) -> str | None:
        if self.get_config_variable("ignore_configured_endpoint_urls"):
            return None
        provider = botocore.configprovider.ConfiguredEndpointProvider(
            full_config=self.full_config,
            scoped_config=self.get_scoped_config(),
            client_name=service_name,
            environ=self._chain_environ,
        )
        found = provider.provide()
        return str(found) if found else None

    def sts_endpoint(self) -> str | None:
        return self.configured_endpoint("sts") or self._store_sts_endpoint

    # botocore's own signature, positional parameters included: callers may pass them so.
    def create_client(  # noqa: PLR0917
        self,
        service_name: str,
        region_name: str | None = None,
        api_version: str | None = None,
        use_ssl: bool | None = True,
        verify: bool | str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        config: botocore.config.Config | None = None,
        aws_account_id: str | None = None,
    ) -> botocore.client.BaseClient:
        if endpoint_url is None:
            endpoint_url = (
                self.sts_endpoint() if service_name == "sts" else self.configured_endpoint(service_name)
            )
        # Found above from the chain's environment: botocore must not look in os.environ again.
        # (botocore has this Config parameter since 1.31; its type stubs lack it.)
        ignore = botocore.config.Config(ignore_configured_endpoint_urls=True)  # type: ignore[call-arg]
        return super().create_client(
            service_name,
            region_name=region_name,
            api_version=api_version,
            use_ssl=use_ssl,
            verify=verify,
            endpoint_url=endpoint_url,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            config=config.merge(ignore) if config is not None else ignore,
            aws_account_id=aws_account_id,
        )


def session_for(environ: Mapping[str, str], sts_endpoint: str | None = None, *, profile: str) -> ChainSession:
    """A botocore session that reads the chain's environment, not the process's.

    Every session variable botocore takes from an environment variable (the profile, the two
    files' paths, the region, the defaults mode, ...) is looked up in ``environ``: botocore's own
    lookup chains read ``os.environ`` for any variable not set on the session, so each is
    replaced by the same chain over ``environ``. The files' paths and the profile are always set,
    so that the process's ``AWS_PROFILE`` or ``AWS_CONFIG_FILE`` can never point it elsewhere.
    ``os.environ`` is never written: other threads (the server's requests) read it meanwhile.
    """
    session = ChainSession(environ, sts_endpoint)
    store = session.get_component("config_store")
    chains = botocore.configprovider.ConfigChainFactory(session=session, environ=dict(environ))
    for name, (
        config_name,
        env_names,
        default,
        convert,
    ) in botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.items():
        store.set_config_provider(
            name,
            chains.create_config_chain(
                instance_name=name,
                env_var_names=env_names,
                config_property_names=config_name,
                default=default,
                conversion_func=convert,
            ),
        )
        if name in ("config_file", "credentials_file"):
            session.set_config_variable(name, session.get_config_variable(name))
    session.set_config_variable("profile", profile)
    return session
