{#-
    dbt tests check what a run wrote, not all of history.

    The marts rewritten by day (incremental, unique_key as_of_date: the fact table, the
    drivers, the segment and parent rollups, the band migrations) change on the days of
    int_scoring_window: every generic test on them is scoped to those days here, through
    the hook behind dbt's `where` test config (a test's own `where` still applies, and
    is and-ed). The singular tests in tests/ scope themselves with
    scoring_window_relation(). A full build's window is every day, so it tests
    everything (a build in parts, each part its days).

    A model whose rows are days of history that a run does not rewrite names its day
    column (a date, or a timestamp the engine can prune on) in
    `meta: {tests_scoped_by: <column>}`, and its generic tests read the run's days on
    that column: the usage events, their daily aggregates, the account-day spine.
    Tested whole, they would cost every nightly run a scan of all history (4.6 s at
    10,000 accounts x 365 days, growing with both). These models are built before
    int_scoring_window (on a first build it does not exist yet), so their days come from
    the run's event-time flags (run_window_date in macros/scoring.sql); a build without
    the flags (by hand) tests them whole, and a build in parts tests each part's days.
    Other tables are tested whole (they are rebuilt whole and small).

    The window is read by relation, not ref(): a ref would make int_scoring_window a
    parent of every test, and with cautious indirect selection a run that builds the
    marts without it (a split backfill) would then skip their tests.
-#}
{#- Self-contained: dbt renders generic tests with only the macros it finds they call,
    and a macro reached through dispatch brings none of its own (calling the helpers
    below from here fails with "'rewritten_by_day' is undefined" on a fresh parse). -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- if execute and relation.identifier is defined -%}
        {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
            | list -%}
        {%- set tested = nodes
            | selectattr('alias', 'equalto', relation.identifier)
            | selectattr('schema', 'equalto', relation.schema) | list -%}
        {%- set windows = nodes | selectattr('name', 'equalto', 'int_scoring_window') | list -%}
        {%- if tested and windows and tested[0].config.materialized == 'incremental'
            and tested[0].config.unique_key == 'as_of_date' -%}
            {%- set window = api.Relation.create(database=windows[0].database,
                schema=windows[0].schema, identifier=windows[0].alias) -%}
            {%- do conditions.append(
                'as_of_date between (select score_from_date from ' ~ window ~ ')'
                ~ ' and (select score_to_date from ' ~ window ~ ')') -%}
        {%- elif tested -%}
            {%- set day_column = (tested[0].config.meta or {}).get('tests_scoped_by') -%}
            {%- set start = invocation_args_dict.get('event_time_start') -%}
            {%- set end = invocation_args_dict.get('event_time_end') -%}
            {%- if day_column and start and end -%}
                {#- the run's days as literals (the end exclusive); a timestamp column (an
                    event time) scopes as a date does, and the engine skips the history
                    before the first day -#}
                {%- do conditions.append(
                    day_column ~ " >= cast('" ~ (start | string)[:10] ~ "' as date) and cast("
                    ~ day_column ~ " as date) < cast('" ~ (end | string)[:10] ~ "' as date)") -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ')
            ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- int_scoring_window's relation, looked up in the graph (see above). -#}
{% macro scoring_window_relation() -%}
    {%- if not execute -%}
        {%- do return(api.Relation.create(identifier='int_scoring_window')) -%}
    {%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.name == 'int_scoring_window' -%}
        {%- do return(api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias)) -%}
    {%- endfor -%}
    {%- do exceptions.raise_compiler_error('int_scoring_window is not in the project') -%}
{%- endmacro %}
