using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Run;

/// <summary>
/// The foreign keys among the tables of a -DeferIndexes run, dropped once when the run starts and
/// each added back once both its tables have loaded, as pg_restore and pgcopydb do at their end: no
/// table then waits for its parents, none takes a lock on a table another is loading, and each key
/// is checked in one pass over the loaded rows. Each key is listed in <c>confiture.run_key</c> in the transaction
/// that drops it and removed in the one that validates it. A key comes back NOT VALID first and is
/// then validated, so a key whose rows do not all match (a parent that failed to load) stays on
/// the target, enforced for new rows and named by the cutover gate, instead of missing.
/// </summary>
internal static class RunKeys
{
    private const string Table = TargetRecord.Schema + ".run_key";

    private const string NotValid = " NOT VALID";

    /// <summary>One listed key: its table, name, the definition it had, and where it stands.</summary>
    private sealed record Listed(string Owner, string Name, string Referenced, string Definition, Guid RunId, string State, uint? OwnerOid, uint? ReferencedOid, bool Failed = false)
    {
        /// <summary>Whether the target had the key NOT VALID before the run: it comes back as it was, unvalidated.</summary>
        public bool WasNotValid => Definition.EndsWith(NotValid, StringComparison.Ordinal);
    }

    /// <summary>
    /// Lists the keys and drops them, inside the caller's transaction. A key an earlier run of these
    /// tables left listed keeps the definition listed then (it may stand NOT VALID now only because
    /// that run stopped).
    /// </summary>
    public static async Task DropAsync(NpgsqlConnection connection, Guid runId, IReadOnlyList<ForeignKeyGraph.Key> keys, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        foreach (var key in keys)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
                    $"""
                     INSERT INTO {Table} (owner_table, name, referenced_table, definition, run_id, state) VALUES ($1, $2, $3, $4, $5, 'dropped')
                     ON CONFLICT (owner_table, name) DO UPDATE SET run_id = excluded.run_id, state = 'dropped', failure = NULL, dropped_at = now(), dropped_by = current_user
                     """),
                NullObserver.Instance, cancellationToken, key.Definition.Table, key.Definition.Name, key.ToName, key.Definition.Definition, runId).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, key.Definition.Drop, observer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Adds back every listed key among <paramref name="tables"/> (target table OIDs), whichever run
    /// listed it: all NOT VALID in one transaction, then each validated in its own, up to
    /// <paramref name="throttleLimit"/> at once. A key that cannot be validated stays NOT VALID and
    /// listed; its failure is returned with the OID of its table.
    /// </summary>
    /// <param name="target">The target.</param>
    /// <param name="tables">The run's target tables.</param>
    /// <param name="attempted">Keys (table, name) the run already tried to validate: a failure was reported then.</param>
    /// <param name="throttleLimit">Validations at once.</param>
    /// <param name="observer">Told of each statement.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public static async Task<IReadOnlyList<(uint Table, ConfitureException Error)>> RestoreAsync(
        Connections.DatabaseEndpoint target, IReadOnlyCollection<uint> tables, IReadOnlySet<(string Table, string Name)> attempted, int throttleLimit,
        IOperationObserver observer, CancellationToken cancellationToken)
    {
        List<Listed> listed;
        await using (var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            listed = (await ListAsync(connection, cancellationToken).ConfigureAwait(false))
                .Where(k => k.OwnerOid is { } owner && tables.Contains(owner) && k.ReferencedOid is { } referenced && tables.Contains(referenced))
                .Where(k => !attempted.Contains((k.Owner, k.Name))).ToList();
            if (listed.Count == 0)
            {
                return [];
            }

            await AddNotValidAsync(connection, listed, observer, cancellationToken).ConfigureAwait(false);
        }

        var failures = new System.Collections.Concurrent.ConcurrentBag<(uint Table, ConfitureException Error)>();
        using var slots = new SemaphoreSlim(throttleLimit);
        await Task.WhenAll(listed.Select(async key =>
        {
            await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
                if (await ValidateAsync(connection, key, observer, cancellationToken).ConfigureAwait(false) is { } failure)
                {
                    failures.Add((key.OwnerOid!.Value, failure));
                }
            }
            finally
            {
                slots.Release();
            }
        })).ConfigureAwait(false);
        return [.. failures.OrderBy(f => f.Error.Target, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Puts back the keys of runs that ended without adding or validating them (a process killed or
    /// a connection lost mid-run), on a connection without a transaction, and says what it did: keys
    /// of a live run are left to it, and a key whose validation failed waits for a run of its tables. Called with the restore of the deferred indexes, by every call on the target.
    /// </summary>
    public static async Task RestoreAbandonedAsync(NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var access = await TargetRecord.AccessAsync(connection, "run_key", "SELECT, UPDATE, DELETE", cancellationToken).ConfigureAwait(false);
        if (access is null)
        {
            return;
        }

        if (access == false)
        {
            observer.Warning($"{Table} on the target server {Errors.ServerTag.Describe(connection)} is not readable by {connection.UserName}: " +
                             "foreign keys an interrupted -DeferIndexes run of another role dropped are not checked by this call.");
            return;
        }

        var abandoned = new List<Listed>();
        foreach (var run in (await ListAsync(connection, cancellationToken).ConfigureAwait(false)).Where(k => !k.Failed).GroupBy(k => k.RunId))
        {
            await using var probe = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            // A run holds its lock on its own connection while it lives; the probe's lock ends with its transaction.
            if (await SqlExecutor.ScalarAsync<bool>(connection, "SELECT pg_try_advisory_xact_lock($1)", cancellationToken, RunLedger.LockKey(run.Key)).ConfigureAwait(false))
            {
                abandoned.AddRange(run);
            }
        }

        for (var i = abandoned.Count - 1; i >= 0; i--)
        {
            var key = abandoned[i];
            if (key.OwnerOid is null || key.ReferencedOid is null)
            {
                await ForgetAsync(connection, key, cancellationToken).ConfigureAwait(false);
                observer.Warning($"Foreign key \"{key.Name}\" of {key.Owner}, dropped by an interrupted -DeferIndexes run ({key.RunId}), cannot be added back: " +
                                 $"{key.Owner} or {key.Referenced} no longer exists on the target. It was removed from {Table}.");
                abandoned.RemoveAt(i);
            }
        }

        if (abandoned.Count == 0)
        {
            return;
        }

        await AddNotValidAsync(connection, abandoned, observer, cancellationToken).ConfigureAwait(false);
        var left = new List<string>();
        foreach (var key in abandoned)
        {
            if (await ValidateAsync(connection, key, observer, cancellationToken).ConfigureAwait(false) is not null)
            {
                left.Add($"\"{key.Name}\" of {key.Owner}");
            }
        }

        observer.Warning($"Added back {abandoned.Count} foreign key(s) that an interrupted -DeferIndexes run ({abandoned[0].RunId}) had dropped on the target server " +
                         $"{Errors.ServerTag.Describe(connection)}: {string.Join(", ", abandoned.Select(k => $"\"{k.Name}\" of {k.Owner}"))}." +
                         (left.Count == 0 ? string.Empty
                             : $" {string.Join(", ", left)} stand NOT VALID: their rows reference rows their parents do not hold yet. Run the tables again with -Resume " +
                               "(the run validates them at its end), or load the missing rows and run ALTER TABLE ... VALIDATE CONSTRAINT."));
    }

    /// <summary>
    /// Adds back, NOT VALID, the listed keys among <paramref name="keys"/> inside the caller's
    /// transaction (a load's, just before it commits, for the keys to tables already committed):
    /// only a key's other table is locked, which no load holds any more, so no load waits for
    /// another. Returns the keys added, to be validated once that transaction has committed.
    /// </summary>
    public static async Task<IReadOnlyList<ForeignKeyGraph.Key>> AddNotValidAsync(
        NpgsqlConnection connection, IReadOnlyList<ForeignKeyGraph.Key> keys, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var added = new List<ForeignKeyGraph.Key>();
        foreach (var key in keys)
        {
            if ((await ListAsync(connection, cancellationToken, key).ConfigureAwait(false)).SingleOrDefault() is not { State: "dropped" } listed)
            {
                continue;
            }

            await SqlExecutor.ExecuteAsync(connection, Add(listed, listed.WasNotValid ? listed.Definition : listed.Definition + NotValid), observer, cancellationToken).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"UPDATE {Table} SET state = 'not validated' WHERE owner_table = $1 AND name = $2"), NullObserver.Instance,
                cancellationToken, key.Definition.Table, key.Definition.Name).ConfigureAwait(false);
            added.Add(key);
        }

        return added;
    }

    /// <summary>Validates one key that a committed load added back NOT VALID, on its own connection; its failure, if any.</summary>
    public static async Task<ConfitureException?> ValidateAsync(Connections.DatabaseEndpoint target, ForeignKeyGraph.Key key, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var listed = (await ListAsync(connection, cancellationToken, key).ConfigureAwait(false)).SingleOrDefault();
        return listed is null ? null : await ValidateAsync(connection, listed, observer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The listed keys, or the one listed for <paramref name="only"/>.</summary>
    private static Task<List<Listed>> ListAsync(NpgsqlConnection connection, CancellationToken cancellationToken, ForeignKeyGraph.Key? only = null) =>
        SqlExecutor.ListAsync(connection,
            $"""
             SELECT owner_table, name, referenced_table, definition, run_id, state, to_regclass(owner_table)::oid, to_regclass(referenced_table)::oid, failure IS NOT NULL
             FROM {Table} WHERE $1::text IS NULL OR (owner_table = $1 AND name = $2) ORDER BY owner_table, name
             """,
            r => new Listed(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetGuid(4), r.GetString(5),
                r.IsDBNull(6) ? null : r.GetFieldValue<uint>(6), r.IsDBNull(7) ? null : r.GetFieldValue<uint>(7), r.GetBoolean(8)), cancellationToken,
            only?.Definition.Table, only?.Definition.Name);

    /// <summary>Removes a key from the list: it is back and validated, or can no longer be.</summary>
    private static async Task ForgetAsync(NpgsqlConnection connection, Listed key, CancellationToken cancellationToken) =>
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {Table} WHERE owner_table = $1 AND name = $2"), NullObserver.Instance, cancellationToken,
            key.Owner, key.Name).ConfigureAwait(false);

    /// <summary>
    /// Every missing key back at once, NOT VALID: enforced for new rows at once, checked over the
    /// existing ones by VALIDATE, which takes no lock that stops writes or another validation.
    /// (-DeferIndexes refuses partitioned tables, which cannot hold a NOT VALID foreign key.)
    /// </summary>
    private static async Task AddNotValidAsync(NpgsqlConnection connection, IReadOnlyList<Listed> keys, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var key in keys)
        {
            if (await MissingAsync(connection, key, cancellationToken).ConfigureAwait(false))
            {
                var definition = key.WasNotValid ? key.Definition : key.Definition + NotValid;
                await SqlExecutor.ExecuteAsync(connection, Add(key, definition), observer, cancellationToken).ConfigureAwait(false);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Validates one key (adds it whole if it went missing since) and forgets it, in one transaction; a failure leaves it listed and is returned.</summary>
    private static async Task<ConfitureException?> ValidateAsync(NpgsqlConnection connection, Listed key, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await MissingAsync(connection, key, cancellationToken).ConfigureAwait(false))
            {
                await SqlExecutor.ExecuteAsync(connection, Add(key, key.Definition), observer, cancellationToken).ConfigureAwait(false);
            }
            else if (!key.WasNotValid)
            {
                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"ALTER TABLE {key.Owner} VALIDATE CONSTRAINT {SqlText.Identifier(key.Name)}"), observer, cancellationToken).ConfigureAwait(false);
            }

            await ForgetAsync(connection, key, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.ForeignKeyViolation)
        {
            await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            var present = !await MissingAsync(connection, key, cancellationToken).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"UPDATE {Table} SET state = $3, failure = $4 WHERE owner_table = $1 AND name = $2"), NullObserver.Instance,
                cancellationToken, key.Owner, key.Name, present ? "not validated" : "dropped", ex.MessageText + (ex.Detail is null ? string.Empty : " " + ex.Detail)).ConfigureAwait(false);
            return new ConfitureException(ConfitureErrorKind.MigrationFailed,
                $"Foreign key \"{key.Name}\" of {key.Owner} to {key.Referenced} could not be validated after the run: {ex.MessageText}" +
                (ex.Detail is null ? "." : $" ({ex.Detail})") +
                (present ? " It stands NOT VALID (enforced for new rows); the rows it does not cover stay as loaded."
                         : $" It is missing; {Table} keeps its definition and the next call on the target adds it back once the rows allow."),
                key.Owner, $"Load the rows {key.Referenced} lacks (migrate it again, or -Resume the run if it failed), then run ALTER TABLE {key.Owner} VALIDATE CONSTRAINT {SqlText.Identifier(key.Name)}.", ex);
        }
        finally
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static SqlStatement Add(Listed key, string definition) =>
        SqlStatement.Plain($"ALTER TABLE {key.Owner} ADD CONSTRAINT {SqlText.Identifier(key.Name)} {definition}");

    private static Task<bool> MissingAsync(NpgsqlConnection connection, Listed key, CancellationToken cancellationToken) =>
        SqlExecutor.ScalarAsync<bool>(connection, "SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2)",
            cancellationToken, key.Owner, key.Name);
}
