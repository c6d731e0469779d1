using System.Data;
using Confiture.Core.Connections;
using Confiture.Core.Fdw;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;
using Npgsql.Replication;

namespace Confiture.Core.Stream;

/// <summary>
/// Sets up a session's change stream on the source: a publication of the session's tables and a
/// pgoutput slot created over the replication protocol with an exported snapshot, which the
/// session's copies then read. The objects are listed in the target's record before they are
/// created, so a crash in between leaves nothing unlisted; a failure drops what was created. A
/// slot an earlier process left with its position on the target is taken over (its stream goes
/// on), never duplicated; one without a position is dropped and made again.
/// </summary>
internal sealed class ChangeStreamSetup(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    /// <summary>What setup found and will do.</summary>
    /// <param name="Name">The slot's and the publication's name.</param>
    /// <param name="Tables">The source tables the publication lists.</param>
    /// <param name="Reuse">The earlier stream to go on with, when there is one.</param>
    /// <param name="LeftSlot">A slot of this name without a position (a crashed setup): dropped first.</param>
    /// <param name="LeftPublication">A publication of this name that is not reused: dropped first.</param>
    public sealed record Decision(string Name, IReadOnlyList<string> Tables, StreamPosition.Row? Reuse, bool LeftSlot, bool LeftPublication)
    {
        /// <summary>The source statements, for -WhatIf.</summary>
        public IReadOnlyList<string> Describe(string schema)
        {
            if (Reuse is not null)
            {
                return [$"-- on the source: take over replication slot {Name} at {Reuse.AppliedLsn} (publication {Name})"];
            }

            var lines = new List<string>();
            if (LeftSlot)
            {
                lines.Add($"-- on the source: SELECT pg_drop_replication_slot('{Name}')");
            }

            if (LeftPublication)
            {
                lines.Add($"-- on the source: DROP PUBLICATION {Name}");
            }

            lines.Add($"-- on the source: CREATE PUBLICATION {Name} FOR TABLE {string.Join(", ", Tables.Select(t => SqlText.Qualified(schema, t)))}");
            lines.Add($"-- on the source: CREATE_REPLICATION_SLOT {Name} LOGICAL pgoutput (SNAPSHOT 'export')");
            return lines;
        }
    }

    /// <summary>Reads both sides and checks every precondition; changes nothing.</summary>
    public async Task<Decision> PrepareAsync(CancellationToken cancellationToken)
    {
        SetupRecord.Identity identity;
        StreamPosition.Row? position;
        await using (var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            identity = await SetupRecord.IdentityAsync(targetConnection, cancellationToken).ConfigureAwait(false);
            position = await StreamPosition.ReadAsync(targetConnection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        }

        var name = ChangeStreamNames.For(identity, settings.ServerName);
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var tables = await TablesAsync(connection, cancellationToken).ConfigureAwait(false);
        var slot = await SqlExecutor.ListAsync(connection,
            "SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1",
            r => (Plugin: r.IsDBNull(0) ? null : r.GetString(0), Database: r.IsDBNull(1) ? null : r.GetString(1)), cancellationToken, name).ConfigureAwait(false);
        var publication = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", cancellationToken, name).ConfigureAwait(false);
        var reusable = position is not null && position.Slot == name && slot.Count == 1 && slot[0].Plugin == "pgoutput"
            && slot[0].Database == source.Database && publication;
        await ChangeStreamPreconditions.CheckAsync(connection, source, settings.SourceSchema, tables, reusable, cancellationToken).ConfigureAwait(false);
        if (reusable)
        {
            // The publication must still list what this setup streams: a table added later would
            // have no changes before the moment it was added.
            var published = await SqlExecutor.ListAsync(connection,
                "SELECT tablename::text FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2",
                r => r.GetString(0), cancellationToken, name, settings.SourceSchema).ConfigureAwait(false);
            var missing = tables.Except(published, StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
            {
                throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                    $"The change stream this session set up earlier (slot \"{name}\") does not carry {string.Join(", ", missing.Select(t => $"\"{t}\""))}.",
                    missing[0], "Pass the same -Table list as when the stream was set up, or run Remove-ConfitureFdw and set the session up again (the tables are then migrated again).");
            }
        }

        return new Decision(name, tables, reusable ? position : null, !reusable && slot.Count == 1, !reusable && publication);
    }

    /// <summary>Creates (or takes over) the stream; returns what this process holds of it.</summary>
    public async Task<ChangeStreamSession> ApplyAsync(Decision decision, CancellationToken cancellationToken)
    {
        var name = decision.Name;
        if (decision.Reuse is { } earlier)
        {
            observer.Warning($"Going on with the change stream an earlier session left (slot \"{name}\" on the source, applied up to {earlier.AppliedLsn} at {earlier.AppliedAt.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC). " +
                "Sync-ConfitureMigration continues from there; no table can be migrated again in this session (run Remove-ConfitureFdw and set up again for a new stream).");
            await RecordAsync(true, cancellationToken).ConfigureAwait(false);
            return new ChangeStreamSession(name, name);
        }

        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (decision.LeftSlot || decision.LeftPublication)
        {
            observer.Warning($"Dropping the change stream objects an interrupted setup left on the source (\"{name}\"), to create them anew.");
            await ChangeStreamCleanup.DropAsync(connection, decision.LeftSlot ? name : null, decision.LeftPublication ? name : null, observer, cancellationToken).ConfigureAwait(false);
        }

        // Listed first: a process killed from here on leaves objects its next setup or cleanup finds.
        await RecordAsync(true, cancellationToken).ConfigureAwait(false);
        var session = new ChangeStreamSession(name, name);
        var created = false;
        try
        {
            var partitioned = await SqlExecutor.ScalarAsync<bool>(connection,
                "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY ($2) AND c.relkind = 'p')",
                cancellationToken, settings.SourceSchema, decision.Tables.ToArray()).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
                $"CREATE PUBLICATION {SqlText.Identifier(name)} FOR TABLE {string.Join(", ", decision.Tables.Select(t => SqlText.Qualified(settings.SourceSchema, t)))}"
                + (partitioned ? " WITH (publish_via_partition_root = true)" : string.Empty)), observer, cancellationToken).ConfigureAwait(false);
            created = true;

            await using (var replication = new LogicalReplicationConnection(source.ReplicationConnectionString(string.Empty)))
            {
                await replication.Open(cancellationToken).ConfigureAwait(false);
                var slot = await replication.CreatePgOutputReplicationSlot(name, temporarySlot: false,
                    slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: cancellationToken).ConfigureAwait(false);
                observer.Statement($"-- on the source: CREATE_REPLICATION_SLOT {name} LOGICAL pgoutput (SNAPSHOT 'export') -> consistent point {slot.ConsistentPoint}", TimeSpan.Zero);

                // The exported snapshot lives only while the replication connection stays idle:
                // an ordinary transaction imports it at once and holds it for the copies.
                var holder = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    var transaction = await ReadSnapshot.BeginAsync(holder, observer, cancellationToken, slot.SnapshotName).ConfigureAwait(false);
                    var exported = await SqlExecutor.ListAsync(holder, "SELECT pg_export_snapshot(), now()",
                        r => (Id: r.GetString(0), At: r.GetFieldValue<DateTimeOffset>(1)), cancellationToken).ConfigureAwait(false);
                    session.Hold(holder, transaction, exported[0].Id, exported[0].At);
                }
                catch
                {
                    await holder.DisposeAsync().ConfigureAwait(false);
                    throw;
                }

                await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using var recording = await targetConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await StreamPosition.StartAsync(targetConnection, settings.ServerName, name, name, slot.ConsistentPoint, observer, cancellationToken).ConfigureAwait(false);
                await recording.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            return session;
        }
        catch (Exception ex)
        {
            await session.ReleaseSnapshotAsync("setup failed").ConfigureAwait(false);
            try
            {
                await ChangeStreamCleanup.DropAsync(connection, name, created ? name : null, observer, CancellationToken.None).ConfigureAwait(false);
                await RecordAsync(false, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception cleanup) when (cleanup is NpgsqlException or ConfitureException)
            {
                observer.Warning($"The change stream objects \"{name}\" could not be dropped after the failed setup ({cleanup.Message}); Remove-ConfitureFdw drops them.");
            }

            if (ex is PostgresException server && !cancellationToken.IsCancellationRequested)
            {
                throw new ConfitureException(
                    server.SqlState == PostgresErrorCodes.InsufficientPrivilege ? ConfitureErrorKind.PermissionDenied : ConfitureErrorKind.ChangeStreamFailed,
                    $"Setting up the change stream on the source failed: {server.MessageText}", name,
                    "Nothing of the change stream was left on the source; fix the cause and run Enable-ConfitureFdw -ChangeStream again.", server);
            }

            throw;
        }
    }

    /// <summary>The source tables the stream carries: the session's (-Table) or every table of the schema; views and partitions are never published.</summary>
    private async Task<IReadOnlyList<string>> TablesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var tables = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            ORDER BY 1
            """,
            r => r.GetString(0), cancellationToken, settings.SourceSchema).ConfigureAwait(false);
        if (settings.Tables is not { Count: > 0 } wanted)
        {
            return tables;
        }

        var notTables = wanted.Where(t => !tables.Contains(t, StringComparer.Ordinal)).ToList();
        if (notTables.Count > 0)
        {
            observer.Warning($"{string.Join(", ", notTables.Select(t => $"\"{t}\""))} {(notTables.Count == 1 ? "is not a table" : "are not tables")}: the change stream does not carry {(notTables.Count == 1 ? "it" : "them")}.");
        }

        return wanted.Where(t => tables.Contains(t, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Lists (or forgets) the publication and slot in the setup record, in a transaction of its own.</summary>
    private async Task RecordAsync(bool listed, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        var identity = await SetupRecord.IdentityAsync(connection, cancellationToken).ConfigureAwait(false);
        var entry = await SetupRecord.FindAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false)
            ?? throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                $"The target's record lists no session for server \"{settings.ServerName}\".", settings.ServerName, "Run Enable-ConfitureFdw -ChangeStream again.");
        var name = ChangeStreamNames.For(identity, settings.ServerName);
        var items = entry.Items.Where(i => i.Kind is not SetupRecord.Publication and not SetupRecord.ReplicationSlot).ToList();
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        if (listed)
        {
            items.Add(new SetupRecord.Item(SetupRecord.Publication, string.Empty, name));
            items.Add(new SetupRecord.Item(SetupRecord.ReplicationSlot, string.Empty, name));
        }
        else
        {
            await StreamPosition.DeleteAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        }

        await SetupRecord.ReplaceItemsAsync(connection, settings.ServerName, items, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }
}
