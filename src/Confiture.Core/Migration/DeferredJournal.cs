using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// The record of definitions a -DeferIndexes load dropped in a transaction that commits before its
/// data does (a parallel load: its parts commit on their own connections). The rows are written in
/// the transaction of the drops and deleted in the transaction of the rebuild, so they exist exactly
/// while something is missing. A process killed in between leaves them behind; the next Confiture
/// call on the target restores what they list, once no live run holds the table's run lock.
/// </summary>
internal static class DeferredJournal
{
    private const string Table = TargetRecord.Schema + ".deferred_definition";

    /// <summary>Records the definitions about to be dropped, inside the caller's transaction (the one that drops them).</summary>
    public static async Task WriteAsync(NpgsqlConnection connection, string targetSchema, string targetTable, DeferredIndexes deferred, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {Table} WHERE target_schema = $1 AND target_table = $2"), observer, cancellationToken,
            targetSchema, targetTable).ConfigureAwait(false);
        for (var position = 0; position < deferred.Definitions.Count; position++)
        {
            var definition = deferred.Definitions[position];
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
                    $"INSERT INTO {Table} (target_schema, target_table, position, kind, owner_table, qualified_name, name, restore) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                NullObserver.Instance, cancellationToken,
                targetSchema, targetTable, position, definition.Kind == DeferredKind.Index ? "index" : "constraint",
                definition.Owner, definition.QualifiedName, definition.Name, definition.Restore.Select(r => r.Text).ToArray()).ConfigureAwait(false);
        }
    }

    /// <summary>Forgets a table's definitions, inside the transaction that rebuilt them.</summary>
    public static Task ClearAsync(NpgsqlConnection connection, string targetSchema, string targetTable, IOperationObserver observer, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {Table} WHERE target_schema = $1 AND target_table = $2"), observer, cancellationToken,
            targetSchema, targetTable);

    /// <summary>How many definitions the journal lists for a table (what a failed cleanup leaves to the next call).</summary>
    public static async Task<int> CountAsync(NpgsqlConnection connection, string targetSchema, string targetTable, CancellationToken cancellationToken) =>
        await TargetRecord.AccessAsync(connection, "deferred_definition", "SELECT", cancellationToken).ConfigureAwait(false) == true
            ? (int)await SqlExecutor.ScalarAsync<long>(connection, $"SELECT count(*) FROM {Table} WHERE target_schema = $1 AND target_table = $2",
                cancellationToken, targetSchema, targetTable).ConfigureAwait(false)
            : 0;

    /// <summary>
    /// Restores every index and constraint the journal says an interrupted load dropped, table by
    /// table, each in its own transaction on <paramref name="connection"/> (which must have none
    /// open), and says so through the observer. A table whose run lock a live load holds is left to
    /// that load. Any caller on the target (setup, migrate, verify, cleanup) may call it first.
    /// </summary>
    /// <returns>The number of definitions recreated.</returns>
    /// <exception cref="ConfitureException">RestoreFailed: a definition could not be recreated; nothing of that table was changed.</exception>
    public static async Task<int> RestoreFromJournalAsync(NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(observer);
        var access = await TargetRecord.AccessAsync(connection, "deferred_definition", "SELECT, DELETE", cancellationToken).ConfigureAwait(false);
        if (access is null)
        {
            return 0;
        }

        if (access == false)
        {
            // Another role's record: its own next call restores what it dropped.
            observer.Warning($"{Table} on the target server {ServerOf(connection)} is not readable by {connection.UserName}: " +
                             "definitions an interrupted -DeferIndexes load of another role dropped are not checked by this call.");
            return 0;
        }

        var tables = await SqlExecutor.ListAsync(connection, $"SELECT DISTINCT target_schema, target_table FROM {Table} ORDER BY 1, 2",
            r => (Schema: r.GetString(0), Name: r.GetString(1)), cancellationToken).ConfigureAwait(false);
        var restored = 0;
        foreach (var (schema, name) in tables)
        {
            restored += await RestoreTableAsync(connection, schema, name, observer, cancellationToken).ConfigureAwait(false);
        }

        return restored;
    }

    private static async Task<int> RestoreTableAsync(NpgsqlConnection connection, string schema, string name, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var qualified = SqlText.Qualified(schema, name);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var oid = await SqlExecutor.ScalarAsync<uint?>(connection, "SELECT to_regclass($1)::oid", cancellationToken, qualified).ConfigureAwait(false);
        if (oid is null)
        {
            observer.Warning($"The journal lists indexes and constraints an interrupted -DeferIndexes load dropped from {qualified}, which no longer exists on the target; " +
                             "they cannot be restored and were removed from the journal.");
            await ClearAsync(connection, schema, name, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }

        var free = await SqlExecutor.ScalarAsync<bool>(connection, "SELECT pg_try_advisory_xact_lock($1, $2)", cancellationToken,
            TableLock.Namespace, TableLock.Key(oid.Value)).ConfigureAwait(false);
        if (!free)
        {
            // A live load of that table holds it and will rebuild what it dropped itself.
            return 0;
        }

        var rows = await SqlExecutor.ListAsync(connection,
            $"""
             SELECT kind, owner_table, qualified_name, name, restore, dropped_at::text, dropped_by, backend_pid FROM {Table}
             WHERE target_schema = $1 AND target_table = $2 ORDER BY position FOR UPDATE
             """,
            r => (Kind: r.GetString(0), Owner: r.GetString(1), Qualified: r.GetString(2), Name: r.GetString(3), Restore: r.GetFieldValue<string[]>(4),
                DroppedAt: r.GetString(5), DroppedBy: r.GetString(6), Pid: r.GetInt32(7)),
            cancellationToken, schema, name).ConfigureAwait(false);
        if (rows.Count == 0)
        {
            return 0;
        }

        // What the interrupted load's own cleanup would have done: a failed parallel load leaves the
        // table empty (its earlier rows were truncated, or it was empty), and unique keys could not
        // come back over the rows of half a load.
        var emptied = await SqlExecutor.ScalarAsync<long>(connection, $"SELECT count(*) FROM {qualified}", cancellationToken).ConfigureAwait(false);
        if (emptied > 0)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"TRUNCATE {qualified}"), observer, cancellationToken).ConfigureAwait(false);
        }

        var names = new List<string>();
        foreach (var row in rows)
        {
            var missing = row.Kind == "index"
                ? await SqlExecutor.ScalarAsync<bool>(connection, "SELECT to_regclass($1) IS NULL", cancellationToken, row.Qualified).ConfigureAwait(false)
                : await SqlExecutor.ScalarAsync<bool>(connection,
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2)", cancellationToken, row.Owner, row.Name).ConfigureAwait(false);
            if (!missing)
            {
                continue;
            }

            try
            {
                foreach (var statement in row.Restore)
                {
                    await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(statement), observer, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (PostgresException ex)
            {
                throw new ConfitureException(ConfitureErrorKind.RestoreFailed,
                    $"Could not restore {row.Kind} \"{row.Name}\" of {row.Owner}, dropped by an interrupted -DeferIndexes load ({row.DroppedBy}, backend {row.Pid}, at {row.DroppedAt}) " +
                    $"on the target server {ServerOf(connection)}: {ex.MessageText}. Nothing was restored for {qualified}; its definitions stay in {Table}.",
                    name, "Fix the cause the message names, then run any Confiture command on the target again.", ex);
            }

            names.Add(row.Name);
        }

        await ClearAsync(connection, schema, name, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (names.Count > 0)
        {
            observer.Warning($"Restored {names.Count} definition(s) of {qualified} on the target server {ServerOf(connection)} that an interrupted -DeferIndexes -Parallel load " +
                             $"({rows[0].DroppedBy}, backend {rows[0].Pid}, at {rows[0].DroppedAt}) had dropped: {string.Join(", ", names)}" +
                             (emptied > 0 ? $"; first emptied the table of the {emptied} rows its parts had committed, as that load's own cleanup would have." : "."));
        }
        else if (emptied > 0)
        {
            observer.Warning($"Emptied {qualified} on the target server {ServerOf(connection)} of the {emptied} rows an interrupted -Parallel load " +
                             $"({rows[0].DroppedBy}, backend {rows[0].Pid}, at {rows[0].DroppedAt}) had committed, as its own cleanup would have.");
        }

        return names.Count;
    }

    private static string ServerOf(NpgsqlConnection connection) => Errors.ServerTag.Describe(connection);
}
