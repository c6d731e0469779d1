using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// Removes exactly what the setup record lists: the foreign tables it imported, this role's user
/// mapping (it holds the source password), the server, and the schemas it created once nothing
/// else is left in them. Whatever else uses the server (another role's mapping, a foreign table
/// someone made on it) stays, and so does the server then, with a warning naming it. Running it
/// again finds nothing to do.
/// </summary>
internal sealed class FdwCleanup(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    /// <summary>Inspects the target and returns the statements cleanup would run; changes nothing.</summary>
    public async Task<FdwPlan> PlanAsync(CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var work = await PlanAsync(connection, cancellationToken).ConfigureAwait(false);
        return work.Plan;
    }

    /// <summary>Runs cleanup in one target transaction and reports what it left in place.</summary>
    public async Task<FdwPlan> ApplyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await SetupLocks.TakeAsync(connection, settings.ServerName, null, observer, cancellationToken).ConfigureAwait(false);
        var work = await PlanAsync(connection, cancellationToken).ConfigureAwait(false);
        if (work.StreamObjects.Count > 0)
        {
            // On the source, before the record forgets them: an abandoned slot keeps WAL until the disk fills.
            await Stream.ChangeStreamCleanup.DropAsync(source,
                work.StreamObjects.FirstOrDefault(i => i.Kind == SetupRecord.ReplicationSlot)?.Name,
                work.StreamObjects.FirstOrDefault(i => i.Kind == SetupRecord.Publication)?.Name, observer, cancellationToken).ConfigureAwait(false);
        }

        var statement = SqlStatement.Plain("updating the setup record");
        try
        {
            foreach (var step in work.Plan.Statements)
            {
                statement = step;
                await SqlExecutor.ExecuteAsync(connection, step, observer, cancellationToken).ConfigureAwait(false);
            }

            statement = SqlStatement.Plain("updating the setup record");
            if (work.Remaining is null)
            {
                if (work.HasRecord)
                {
                    await SetupRecord.DeleteAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                await SetupRecord.ReplaceItemsAsync(connection, settings.ServerName, work.Remaining, cancellationToken).ConfigureAwait(false);
                if (work.StreamObjects.Count > 0)
                {
                    await Stream.StreamPosition.DeleteAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
                }
            }

            if (work.HasRecord && !KeepRecord)
            {
                await ForgetMigrationsAsync(connection, cancellationToken).ConfigureAwait(false);
                await DropEmptyRecordAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PostgresException ex)
        {
            throw new ConfitureException(
                ex.SqlState == PostgresErrorCodes.InsufficientPrivilege ? ConfitureErrorKind.PermissionDenied : ConfitureErrorKind.FdwSetupFailed,
                $"Removing the postgres_fdw objects failed at \"{statement.Display}\": {ex.MessageText}", settings.ServerName,
                "Nothing was removed; run as the role that ran Enable-ConfitureFdw (the server's owner) or a superuser.", ex);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (work.Identity is { } identity && work.Remaining is null)
        {
            await LiveSessions.ReleaseAsync(identity, settings.ServerName).ConfigureAwait(false);
        }

        foreach (var warning in work.Plan.Warnings)
        {
            observer.Warning(warning);
        }

        return work.Plan;
    }

    private async Task<CleanupWork> PlanAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            return await PlanCleanupAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            // For instance a record schema another role created, which this role may not read.
            throw new ConfitureException(
                ex.SqlState == PostgresErrorCodes.InsufficientPrivilege ? ConfitureErrorKind.PermissionDenied : ConfitureErrorKind.FdwSetupFailed,
                $"Reading the target's catalogs and Confiture's record failed: {ex.MessageText}", settings.ServerName,
                "Nothing was removed; run as the role that ran Enable-ConfitureFdw or a superuser.", ex);
        }
    }

    private async Task<CleanupWork> PlanCleanupAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var statements = new List<SqlStatement>();
        var warnings = new List<string>();
        var dropped = new List<string>();
        var identity = await SetupRecord.IdentityAsync(connection, cancellationToken).ConfigureAwait(false);
        var user = await SqlExecutor.ScalarAsync<string>(connection, "SELECT current_user::text", cancellationToken).ConfigureAwait(false) ?? "?";
        var server = await TargetCatalog.FindServerAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        var entry = await SetupRecord.FindAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        var ours = entry is not null && entry.WrittenIn == identity ? entry : null;
        if (ours is null)
        {
            if (server is not null)
            {
                throw new ConfitureException(ConfitureErrorKind.ServerNotOwned,
                    $"The foreign server \"{settings.ServerName}\" on the target is not listed in Confiture's record of this database; it is left alone.",
                    settings.ServerName, "Check -ServerName; Confiture only removes what it created.");
            }

            return new CleanupWork(new FdwPlan(statements, warnings, dropped), identity, false, null, []);
        }

        await CheckSessionAsync(connection, identity, server, ours, cancellationToken).ConfigureAwait(false);
        var remaining = new List<SetupRecord.Item>();
        var keepServer = false;
        var owned = new List<(uint Oid, string Schema, string Table)>();
        if (server is not null)
        {
            owned = await FdwSetup.OwnedForeignTablesAsync(connection, server.Oid, ours, cancellationToken).ConfigureAwait(false);
            foreach (var (_, schema, table) in owned)
            {
                statements.Add(SqlStatement.Plain($"DROP FOREIGN TABLE {SqlText.Qualified(schema, table)}"));
                dropped.Add(table);
            }

            var strangers = (await TargetCatalog.ForeignTablesAsync(connection, server.Oid, null, cancellationToken).ConfigureAwait(false))
                .Where(t => !owned.Any(o => o.Schema == t.Schema && o.Table == t.Table))
                .Select(t => SqlText.Qualified(t.Schema, t.Table)).ToList();
            if (strangers.Count > 0)
            {
                keepServer = true;
                warnings.Add($"Foreign server \"{settings.ServerName}\" was left in place because foreign tables Confiture did not import use it: {Shown(strangers)}. Drop them, then run Remove-ConfitureFdw again.");
            }

            var mappings = await SqlExecutor.ListAsync(connection,
                "SELECT umuser = 0, usename::text FROM pg_user_mappings WHERE srvid = $1 ORDER BY 2",
                r => (Public: r.GetBoolean(0), User: r.GetString(1)), cancellationToken, server.Oid).ConfigureAwait(false);
            var recorded = ours.Of(SetupRecord.UserMapping).Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
            var serverName = SqlText.Identifier(settings.ServerName);
            var others = new List<string>();
            foreach (var (isPublic, mappedUser) in mappings)
            {
                if (!isPublic && mappedUser == user && recorded.Contains(user))
                {
                    statements.Add(SqlStatement.Plain($"DROP USER MAPPING FOR CURRENT_USER SERVER {serverName}"));
                    continue;
                }

                others.Add(isPublic ? "PUBLIC" : SqlText.Identifier(mappedUser));
                if (!isPublic && recorded.Contains(mappedUser))
                {
                    remaining.Add(new SetupRecord.Item(SetupRecord.UserMapping, string.Empty, mappedUser));
                }
            }

            if (others.Count > 0)
            {
                keepServer = true;
                warnings.Add($"Foreign server \"{settings.ServerName}\" was left in place because it has user mappings of other roles: {Shown(others)}. Each role removes its own (Remove-ConfitureFdw as that role, or DROP USER MAPPING FOR <role> SERVER {serverName}).");
            }

            if (!keepServer)
            {
                statements.Add(SqlStatement.Plain($"DROP SERVER {serverName}"));
            }
        }

        foreach (var schema in ours.Of(SetupRecord.SchemaKind))
        {
            var found = await TargetCatalog.FindSchemaAsync(connection, schema.Name, cancellationToken).ConfigureAwait(false);
            if (found is null)
            {
                continue;
            }

            var left = await TargetCatalog.OtherObjectsInSchemaAsync(connection, found.Oid, owned.Select(t => t.Oid).ToArray(), cancellationToken).ConfigureAwait(false);
            if (left.Count == 0)
            {
                statements.Add(SqlStatement.Plain($"DROP SCHEMA {SqlText.Identifier(schema.Name)}"));
            }
            else
            {
                remaining.Add(schema);
                warnings.Add($"Schema \"{schema.Name}\" was left in place because it still holds objects Confiture did not create: {Shown(left)}.");
            }
        }

        // The record keeps what is left only while the server is: without it nothing refers to them.
        return new CleanupWork(new FdwPlan(statements, warnings, dropped), identity, true, keepServer ? remaining : null,
            ours.Of(SetupRecord.ReplicationSlot).Concat(ours.Of(SetupRecord.Publication)).ToList());
    }

    /// <summary>
    /// A server that reads another source is another session's, and so is one another live
    /// process holds: not this cleanup's to remove, unless forced.
    /// </summary>
    private async Task CheckSessionAsync(
        NpgsqlConnection connection, SetupRecord.Identity identity, TargetCatalog.ForeignServer? server, SetupRecord.Entry ours, CancellationToken cancellationToken)
    {
        if (settings.Force)
        {
            return;
        }

        var who = $"set up by role \"{ours.SetUpBy}\" from {ours.SessionClient}";
        var wanted = new DatabaseAddress(settings.SourceHostForTarget ?? source.Host, settings.SourcePortForTarget ?? source.Port, source.Database).ToString();
        if (server is not null)
        {
            server.Options.TryGetValue("host", out var host);
            server.Options.TryGetValue("port", out var port);
            server.Options.TryGetValue("dbname", out var dbname);
            var current = $"{host}:{port}/{dbname}";
            if (current != wanted)
            {
                throw new ConfitureException(ConfitureErrorKind.ServerInUse,
                    $"The foreign server \"{settings.ServerName}\" on the target reads another source ({current}, {who}), not this session's {wanted}; nothing was removed.",
                    settings.ServerName, "Remove it from the session that reads that source; Confiture removes a session's objects only from that session.");
            }
        }

        if (LiveSessions.OursFor(identity, settings.ServerName) == ours.SessionLock
            || !await LiveSessions.IsLiveAsync(connection, identity, ours.SessionLock, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        throw new ConfitureException(ConfitureErrorKind.ServerInUse,
            $"The foreign server \"{settings.ServerName}\" on the target belongs to another live Confiture session ({who}); nothing was removed.",
            settings.ServerName, "Let that session remove it when it is done; Confiture removes a live session's objects only from that session.");
    }

    /// <summary>
    /// The record goes with the last thing it describes: once every table in schema confiture is
    /// empty, the schema is dropped. Anything else in it, a row left, a lock someone holds on it,
    /// or a role that may not drop it keeps it as it is.
    /// </summary>
    /// <summary>Keeps the maps and sync marks of this server's tables in the record (Remove-ConfitureFdw -KeepRecord).</summary>
    public bool KeepRecord { get; init; }

    /// <summary>
    /// Forgets what the record says of this server's migrations (their maps and sync marks), so that
    /// the record goes once nothing of another session is left in it.
    /// </summary>
    private async Task ForgetMigrationsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (await Record.TargetRecord.AccessAsync(connection, "run", "DELETE", cancellationToken).ConfigureAwait(false) == true)
        {
            // The session's runs go with it (their tables' rows by the key's ON DELETE CASCADE).
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {Record.TargetRecord.Schema}.run WHERE server_name = $1"),
                observer, cancellationToken, settings.ServerName).ConfigureAwait(false);
        }

        if (await Record.TargetRecord.AccessAsync(connection, "table_map", "SELECT, DELETE", cancellationToken).ConfigureAwait(false) != true)
        {
            return;
        }

        if (await Record.TargetRecord.AccessAsync(connection, "sync_mark", "DELETE", cancellationToken).ConfigureAwait(false) == true)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
                $"DELETE FROM {Record.TargetRecord.Schema}.sync_mark s USING {Record.TargetRecord.Schema}.table_map m " +
                "WHERE m.server_name = $1 AND s.target_schema = m.target_schema AND s.target_table = m.target_table"),
                observer, cancellationToken, settings.ServerName).ConfigureAwait(false);
        }

        if (await Record.TargetRecord.AccessAsync(connection, "verification", "DELETE", cancellationToken).ConfigureAwait(false) == true)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {Record.TargetRecord.Schema}.verification WHERE server_name = $1"),
                observer, cancellationToken, settings.ServerName).ConfigureAwait(false);
        }

        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {Record.TargetRecord.Schema}.table_map WHERE server_name = $1"),
            observer, cancellationToken, settings.ServerName).ConfigureAwait(false);
    }

    private async Task DropEmptyRecordAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var schema = await TargetCatalog.FindSchemaAsync(connection, Record.TargetRecord.Schema, cancellationToken).ConfigureAwait(false);
        if (schema is null)
        {
            return;
        }

        var tables = await SqlExecutor.ListAsync(connection,
            "SELECT oid, relname::text FROM pg_class WHERE relnamespace = $1 AND relkind IN ('r', 'p') ORDER BY 2",
            r => (Oid: r.GetFieldValue<uint>(0), Name: r.GetString(1)), cancellationToken, schema.Oid).ConfigureAwait(false);
        var others = await TargetCatalog.OtherObjectsInSchemaAsync(connection, schema.Oid, tables.Select(t => t.Oid).ToArray(), cancellationToken).ConfigureAwait(false);
        if (tables.Count == 0 || others.Count > 0)
        {
            return;
        }

        var list = string.Join(", ", tables.Select(t => SqlText.Qualified(Record.TargetRecord.Schema, t.Name)));
        await transaction.SaveAsync("confiture_record", cancellationToken).ConfigureAwait(false);
        try
        {
            // Locked first, so no row can arrive between the check and the drop.
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"LOCK TABLE {list} IN ACCESS EXCLUSIVE MODE NOWAIT"), NullObserver.Instance, cancellationToken).ConfigureAwait(false);
            var empty = await SqlExecutor.ScalarAsync<bool>(connection,
                "SELECT " + string.Join(" AND ", tables.Select(t => $"NOT EXISTS (SELECT 1 FROM {SqlText.Qualified(Record.TargetRecord.Schema, t.Name)})")),
                cancellationToken).ConfigureAwait(false);
            if (!empty)
            {
                await transaction.RollbackAsync("confiture_record", cancellationToken).ConfigureAwait(false);
                return;
            }

            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DROP TABLE {list}"), observer, cancellationToken).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DROP SCHEMA {SqlText.Identifier(Record.TargetRecord.Schema)}"), observer, cancellationToken).ConfigureAwait(false);
            await transaction.ReleaseAsync("confiture_record", cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException)
        {
            await transaction.RollbackAsync("confiture_record", cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Shown(List<string> names) =>
        string.Join(", ", names.Take(10)) + (names.Count > 10 ? $" and {names.Count - 10} more" : string.Empty);

    /// <param name="Plan">The statements and warnings.</param>
    /// <param name="Identity">The target database's identity.</param>
    /// <param name="HasRecord">Whether the record lists the server.</param>
    /// <param name="Remaining">What the record still lists afterwards; null when the server goes and its row with it.</param>
    /// <param name="StreamObjects">The change stream's slot and publication on the source, dropped there first.</param>
    private sealed record CleanupWork(FdwPlan Plan, SetupRecord.Identity? Identity, bool HasRecord, List<SetupRecord.Item>? Remaining, IReadOnlyList<SetupRecord.Item> StreamObjects);
}
