"""Who is using the dashboard: signing in, the signed-in person in the sidebar, signing out.

``resolve_identity`` runs first on every page run, before anything reads the database: when
people must sign in and this one has not (or cannot), it draws the sign-in page and returns
None, and the page stops there. See ``sqlagent.access.signin`` for the three modes.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from sqlagent.access.identity import Identity
from sqlagent.access.signin import (
    SignIn,
    check_bind,
    claims_identity,
    header_identity,
    probe_provider,
    sign_in,
)
from sqlagent.errors import SqlAgentError

LOCAL_NOTE = "Single-user mode on this machine: nobody signs in, and everything runs as {name}."


def sign_in_mode() -> SignIn:
    """This server's way of signing people in: Streamlit's ``[auth]`` secrets, else the
    trusted-header setting, else single-user. Raises ``ConfigError`` when misconfigured, or
    when single-user mode is served on an address other machines reach."""
    from streamlit.auth_util import get_secrets_auth_section

    section = get_secrets_auth_section()
    auth = section.to_dict() if section else None
    mode = sign_in(auth)
    # `sqlagent ui` checks this before starting; `streamlit run --server.address` does not.
    address = st.get_option("server.address")
    if address:
        check_bind(str(address), mode)
    return mode


@st.cache_data(ttl=5, show_spinner=False)
def _provider_problem(url: str) -> tuple[str, str | None] | None:
    """Why the provider cannot be used now (message, hint), or None; checked at most every
    few seconds so a page of signed-out visitors does not hammer it."""
    try:
        probe_provider(url)
    except SqlAgentError as exc:
        return exc.message, exc.hint
    return None


def _title() -> None:
    st.title(":material/query_stats: sqlagent", anchor=False)


def _signed_in_user() -> dict[str, Any] | None:
    """The signed-in person's claims, or None when nobody is signed in."""
    user = st.user
    if not user.is_logged_in:
        return None
    return dict(user.to_dict())


def resolve_identity(signin: SignIn, *, group_claim: str = "groups") -> Identity | None:
    """The person this page run is for; None (the sign-in page or an error drawn) when
    nobody may be let in. Never falls back to an anonymous or local person."""
    if signin.mode == "local":
        return Identity.local()
    if signin.mode == "header":
        try:
            return header_identity(st.context.headers, signin)
        except SqlAgentError as exc:
            _title()
            # The message may quote the header a client sent: text, never Markdown.
            st.error(f"**You are not signed in.** {_plain(exc.message)}", icon=":material/lock:")
            if exc.hint:
                st.caption(_plain(exc.hint))
            return None
    claims = _signed_in_user()
    if claims is not None:
        try:
            return claims_identity(claims, group_claim=group_claim)
        except SqlAgentError as exc:
            _title()
            st.error(_plain(exc.message), icon=":material/lock:")
            if st.button("Sign out", icon=":material/logout:"):
                st.logout()
            return None
    _render_sign_in(signin)
    return None


def _render_sign_in(signin: SignIn) -> None:
    """The page for someone not signed in: a button per provider, or why there is none."""
    _title()
    st.caption("Ask questions about your data in plain language.")
    problems = [_provider_problem(p.metadata_url) for p in signin.providers]
    usable = [p for p, problem in zip(signin.providers, problems, strict=True) if problem is None]
    if not usable:
        message, hint = next(p for p in problems if p is not None)
        st.error(f"**{_plain(message)}**", icon=":material/cloud_off:")
        if hint:
            st.caption(_plain(hint))
        st.button("Try again", icon=":material/refresh:")  # a click reruns the page
        return
    st.info("Sign in to see the data you may read.", icon=":material/lock:")
    for provider in usable:
        label = "Sign in" if provider.name == "default" else f"Sign in with {provider.name}"
        if st.button(label, key=f"login_{provider.name}", type="primary", icon=":material/login:"):
            st.login(None if provider.name == "default" else provider.name)


def render_account(identity: Identity, role: str | None, signin: SignIn) -> None:
    """Who is signed in (and their role) in the sidebar, with a sign-out button for OIDC;
    in single-user mode, a note saying so."""
    with st.sidebar:
        if signin.mode == "local":
            st.caption(LOCAL_NOTE.format(name=f"`{identity.name}`"))
            return
        with st.container(key="account"):
            role_text = f" · role **{role}**" if role else ""
            st.markdown(f":material/account_circle: **{_plain(identity.name)}**{role_text}")
            if signin.mode == "oidc":
                if st.button("Sign out", icon=":material/logout:", width="stretch"):
                    st.logout()
            else:
                st.caption("Signed in by the proxy in front of this dashboard.")


def _plain(text: str) -> str:
    """A name as literal Markdown text (an email's characters are not markup)."""
    from .format import escape_markdown

    return escape_markdown(text)
