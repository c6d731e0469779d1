using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Readiness;

/// <summary>The gate's catalog items of one target table (and its partitions): indexes, constraints, statistics; and the deferred-definition journal.</summary>
internal static class TableChecks
{
    /// <summary>One journal row: a definition an interrupted -DeferIndexes load dropped.</summary>
    internal sealed record PendingDefinition(string TargetSchema, string TargetTable, string Kind, string Name, DateTimeOffset DroppedAt, int Pid);

    public static async Task<IReadOnlyList<ReadinessItem>> CatalogAsync(NpgsqlConnection connection, JudgedTable table, uint oid, CancellationToken cancellationToken)
    {
        var tree = PartitionTree.All("$1::oid");
        var invalidIndexes = await SqlExecutor.ListAsync(connection,
            $"SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid IN (SELECT relid FROM {tree} t) AND NOT i.indisvalid ORDER BY 1",
            r => r.GetString(0), cancellationToken, oid).ConfigureAwait(false);
        var notValid = await SqlExecutor.ListAsync(connection,
            $"SELECT c.conrelid::regclass::text, quote_ident(c.conname) FROM pg_constraint c WHERE c.conrelid IN (SELECT relid FROM {tree} t) AND NOT c.convalidated ORDER BY 1, 2",
            r => (Table: r.GetString(0), Name: r.GetString(1)), cancellationToken, oid).ConfigureAwait(false);
        // Statistics are there when pg_stats has rows for the relation (they survive a reset of the
        // activity counters), or an ANALYZE is on record; an analyzed empty table has no rows to
        // describe (reltuples 0; before PostgreSQL 14 that also meant "never analyzed").
        var bare = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT c.oid::regclass::text FROM {tree} t
            JOIN pg_class c ON c.oid = t.relid AND c.relkind IN ('r', 'p')
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
            WHERE NOT EXISTS (SELECT 1 FROM pg_stats p WHERE p.schemaname = n.nspname AND p.tablename = c.relname)
              AND s.last_analyze IS NULL AND s.last_autoanalyze IS NULL
              AND (c.reltuples <> 0 OR current_setting('server_version_num')::int < 140000)
            ORDER BY 1
            """,
            r => r.GetString(0), cancellationToken, oid).ConfigureAwait(false);

        return
        [
            invalidIndexes.Count == 0
                ? table.Item(ReadinessCheck.Index, true, "Every index is valid.", null)
                : table.Item(ReadinessCheck.Index, false,
                    $"Invalid index(es) on {table.QualifiedTarget}: {string.Join(", ", invalidIndexes)}. An invalid index (what a failed CREATE INDEX CONCURRENTLY leaves) serves no query and still slows every write; a unique one enforces nothing.",
                    $"Rebuild each: REINDEX INDEX CONCURRENTLY {invalidIndexes[0]} (a unique index first needs its duplicate rows fixed), or DROP INDEX CONCURRENTLY and create it again."),
            notValid.Count == 0
                ? table.Item(ReadinessCheck.Constraint, true, "Every constraint is validated.", null)
                : table.Item(ReadinessCheck.Constraint, false,
                    $"NOT VALID constraint(s) on {table.QualifiedTarget}: {string.Join(", ", notValid.Select(c => $"{c.Name} of {c.Table}"))}: the rows already there were never checked against them.",
                    $"Validate each: ALTER TABLE {notValid[0].Table} VALIDATE CONSTRAINT {notValid[0].Name} (it takes only a SHARE UPDATE EXCLUSIVE lock; rows that break it must be fixed first)."),
            bare.Count == 0
                ? table.Item(ReadinessCheck.Statistics, true, "Planner statistics are present.", null)
                : table.Item(ReadinessCheck.Statistics, false,
                    $"No planner statistics for {string.Join(", ", bare)}: the first queries after the switch would be planned blind.",
                    $"ANALYZE {table.QualifiedTarget} (on a partitioned table it analyzes every partition too); Invoke-ConfitureTableMigration does it unless -SkipAnalyze."),
        ];
    }

    /// <summary>Every journal row on the target; empty when there is no journal (or this role may not read it: then the item says so).</summary>
    public static async Task<IReadOnlyList<PendingDefinition>?> JournalAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var access = await TargetRecord.AccessAsync(connection, "deferred_definition", "SELECT", cancellationToken).ConfigureAwait(false);
        if (access != true)
        {
            return access is null ? [] : null;
        }

        return await SqlExecutor.ListAsync(connection,
            $"SELECT target_schema, target_table, kind, name, dropped_at, backend_pid FROM {TargetRecord.Schema}.deferred_definition ORDER BY target_schema, target_table, position",
            r => new PendingDefinition(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetFieldValue<DateTimeOffset>(4), r.GetInt32(5)),
            cancellationToken).ConfigureAwait(false);
    }

    public static ReadinessItem JournalItem(JudgedTable table, IReadOnlyList<PendingDefinition>? journal)
    {
        if (journal is null)
        {
            return table.Item(ReadinessCheck.Journal, false, $"The role may not read {TargetRecord.Schema}.deferred_definition, so a dropped index or constraint cannot be ruled out.",
                $"Grant SELECT on {TargetRecord.Schema}.deferred_definition to the role that runs the gate.");
        }

        var pending = journal.Where(j => j.TargetSchema == table.Map.TargetSchema && j.TargetTable == table.Map.TargetTable).ToList();
        return pending.Count == 0
            ? table.Item(ReadinessCheck.Journal, true, "No dropped definition awaits its restore.", null)
            : table.Item(ReadinessCheck.Journal, false, Pending(table.QualifiedTarget, pending), Restore);
    }

    /// <summary>Journal rows of tables the gate does not otherwise judge: each a failed item of its own table.</summary>
    public static IEnumerable<ReadinessItem> JournalOutside(IReadOnlyList<PendingDefinition>? journal, IReadOnlyList<(string Schema, string Table)> judged) =>
        (journal ?? [])
            .Where(j => !judged.Contains((j.TargetSchema, j.TargetTable)))
            .GroupBy(j => (j.TargetSchema, j.TargetTable))
            .Select(g => new ReadinessItem(ReadinessCheck.Journal, g.Key.TargetSchema, g.Key.TargetTable, null, false,
                Pending(SqlText.Qualified(g.Key.TargetSchema, g.Key.TargetTable), g.ToList()), Restore));

    private const string Restore =
        "Once no load of the table is running, run any Confiture command that works on the target (Test-ConfitureMigration, say): it first restores what the journal lists, " +
        "emptying the table when the interrupted load had committed part of it, and says so; then migrate that table again (-Truncate) and verify it.";

    private static string Pending(string table, List<PendingDefinition> pending) =>
        $"{pending.Count} definition(s) of {table} dropped by a -DeferIndexes load ({string.Join(", ", pending.Select(p => $"{p.Kind} {p.Name}"))}; backend {pending[0].Pid}, at {pending[0].DroppedAt:u}) " +
        "are recorded as still missing: a load is under way, or one was interrupted.";
}
