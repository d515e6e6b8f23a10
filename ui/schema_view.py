"""The Schema tab: tables, columns, keys, row counts, descriptions and sample values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sqlagent.context.knowledge import Knowledge, TableNote, load_knowledge
from sqlagent.types import SchemaInfo, TableInfo

from . import state
from .format import escape_markdown


def read_knowledge(path: Path | None) -> tuple[Knowledge, str | None]:
    """The knowledge file (empty when missing) and a problem to show, if any."""
    try:
        return load_knowledge(path), None
    except Exception as exc:  # a broken file must not hide the schema
        return Knowledge(), f"The knowledge file could not be read: {exc}"


def _keys(table: TableInfo) -> dict[str, str]:
    keys: dict[str, str] = {}
    for name in table.primary_key:
        keys[name.lower()] = "primary key"
    for fk in table.foreign_keys:
        for col, ref in zip(fk.columns, fk.ref_columns, strict=False):
            target = f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table
            keys[col.lower()] = (keys.get(col.lower(), "") + f" → {target}.{ref}").strip()
    return keys


def columns_frame(table: TableInfo, note: TableNote | None) -> pd.DataFrame:
    """One row per column: name, type, key, nullable, description and sample values."""
    keys = _keys(table)
    rows = []
    for col in table.columns:
        col_note = note.column(col.name) if note else None
        description = (col_note.description if col_note else None) or col.comment or ""
        if col_note and col_note.synonyms:
            description = (description + " · also: " + ", ".join(col_note.synonyms)).strip(" ·")
        rows.append(
            {
                "column": col.name,
                "type": col.type,
                "key": keys.get(col.name.lower(), "primary key" if col.primary_key else ""),
                "nullable": col.nullable,
                "description": description,
                "sample values": ", ".join(col.samples),
            }
        )
    return pd.DataFrame(rows)


def tables_frame(schema: SchemaInfo, knowledge: Knowledge) -> pd.DataFrame:
    """One row per table: name, kind, rows, columns, description."""
    rows = []
    for table in schema.tables:
        note = knowledge.table(table.name, table.schema)
        rows.append(
            {
                "table": table.qualified_name,
                "kind": table.kind,
                "rows": table.row_count,
                "columns": len(table.columns),
                "description": (note.description if note else None) or table.comment or "",
            }
        )
    return pd.DataFrame(rows)


def render_schema(schema: SchemaInfo, knowledge: Knowledge, problem: str | None) -> None:
    """The whole tab."""
    if problem:
        st.warning(escape_markdown(problem))
    if not schema.tables:
        st.info("This database has no tables the agent may read.")
        return
    st.dataframe(
        tables_frame(schema, knowledge),
        hide_index=True,
        column_config={
            "rows": st.column_config.NumberColumn("rows", format="localized"),
            "description": st.column_config.TextColumn("description", width="large"),
        },
    )
    query = (
        st.text_input(
            "Filter", placeholder="Filter tables and columns…", label_visibility="collapsed"
        )
        .strip()
        .lower()
    )
    for table in schema.tables:
        if (
            query
            and query not in table.qualified_name.lower()
            and not any(query in c.name.lower() for c in table.columns)
        ):
            continue
        note = knowledge.table(table.name, table.schema)
        count = f"{table.row_count:,} rows" if table.row_count is not None else "rows unknown"
        name = escape_markdown(table.qualified_name)
        label = f"**{name}** · {count} · {len(table.columns)} columns"
        with st.expander(label, icon=":material/table:", expanded=bool(query)):
            description = (note.description if note else None) or table.comment
            if description:
                st.caption(escape_markdown(description))
            st.dataframe(
                columns_frame(table, note),
                hide_index=True,
                column_config={
                    "nullable": st.column_config.CheckboxColumn("nullable", width="small"),
                    "description": st.column_config.TextColumn("description", width="large"),
                },
            )
    _render_knowledge(knowledge)


def _render_knowledge(knowledge: Knowledge) -> None:
    if knowledge.definitions:
        st.markdown("#### Definitions")
        st.markdown(
            "\n".join(
                f"- **{escape_markdown(d.term)}**: {escape_markdown(d.definition)}"
                for d in knowledge.definitions
            )
        )
    if knowledge.verified:
        st.markdown("#### Verified questions")
        st.caption("Checked SQL from the knowledge file; these run without a language model.")
        for i, example in enumerate(knowledge.verified):
            st.button(
                escape_markdown(example.question),  # a label renders Markdown, images too
                key=f"verified_{i}",
                icon=":material/verified:",
                type="tertiary",
                on_click=state.request,
                args=("verified", example.question, example.question, example.sql),
            )
