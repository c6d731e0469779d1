using System.Data;
using Confiture.Core.Connections;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Confiture.Core.Verification;
using Npgsql;

namespace Confiture.Core.Readiness;

/// <summary>
/// The one check before switching the application: for every table of the session, whether it was
/// verified by checksum since its last change on either server, its sequences, indexes,
/// constraints, statistics and journal; then the session's change stream. It reads only, inside
/// READ ONLY transactions on both servers, and repairs nothing (a pending journal entry is reported,
/// not restored): the gate never changes what it judges.
/// </summary>
internal sealed class CutoverGate(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings)
{
    public async Task<CutoverReadiness> TestAsync(CutoverRequest request, IReadOnlyCollection<MigratedMap> sessionMaps, CancellationToken cancellationToken)
    {
        await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var targetRead = await ReadOnlyAsync(targetConnection, cancellationToken).ConfigureAwait(false);
        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var sourceRead = await ReadOnlyAsync(sourceConnection, cancellationToken).ConfigureAwait(false);

        var items = new List<ReadinessItem>();
        var recorded = await TableMapRecord.ReadForServerAsync(targetConnection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        if (recorded is null)
        {
            items.Add(new ReadinessItem(ReadinessCheck.Migrated, null, null, null, false,
                $"Role \"{target.Username}\" may not read {TargetRecord.Schema}.table_map on the target, so the gate cannot tell which tables this session migrated.",
                $"Grant SELECT on the tables of schema {TargetRecord.Schema} to {SqlText.Identifier(target.Username)} on the target, or run the gate as the role that migrated."));
            return new CutoverReadiness(items, DateTimeOffset.Now);
        }

        // This process's session knows what it migrated even where the record could not be written.
        var migrated = recorded.ToDictionary(r => (r.Map.TargetSchema, r.Map.TargetTable), r => (r.Map, MigratedAt: (DateTimeOffset?)r.MigratedAt));
        foreach (var map in sessionMaps.Where(m => !migrated.ContainsKey((m.TargetSchema, m.TargetTable))))
        {
            migrated[(map.TargetSchema, map.TargetTable)] = (map, null);
        }

        var judged = migrated.Values.Where(m => !request.OnlyNamed || request.Tables.Contains(m.Map.SourceTable, StringComparer.Ordinal)).ToList();
        foreach (var missing in request.Tables.Where(t => judged.All(m => m.Map.SourceTable != t || m.Map.SourceSchema != settings.SourceSchema)))
        {
            items.Add(new ReadinessItem(ReadinessCheck.Migrated, null, null, missing, false,
                $"Source table \"{settings.SourceSchema}\".\"{missing}\" of this session was never migrated to the target (no row in {TargetRecord.Schema}.table_map for server \"{settings.ServerName}\").",
                $"Migrate it (Invoke-ConfitureTableMigration {missing}), or leave it out of the gate with -Table naming the tables that move."));
        }

        if (judged.Count == 0 && items.Count == 0)
        {
            items.Add(new ReadinessItem(ReadinessCheck.Migrated, null, null, null, false,
                $"No table is recorded as migrated by this session (server \"{settings.ServerName}\") on the target.",
                "Migrate the tables first (Invoke-ConfitureTableMigration), then verify them (Test-ConfitureMigration -Checksum)."));
        }

        var verifications = await VerificationRecord.ReadAllAsync(targetConnection, cancellationToken).ConfigureAwait(false);
        var journal = await TableChecks.JournalAsync(targetConnection, cancellationToken).ConfigureAwait(false);
        foreach (var (map, migratedAt) in judged.OrderBy(m => m.Map.TargetSchema, StringComparer.Ordinal).ThenBy(m => m.Map.TargetTable, StringComparer.Ordinal))
        {
            var table = new JudgedTable(map, SqlText.Qualified(map.TargetSchema, map.TargetTable), SqlText.Qualified(map.SourceSchema, map.SourceTable));
            var oid = await SqlExecutor.ScalarAsync<uint?>(targetConnection, "SELECT to_regclass($1)::oid", cancellationToken, table.QualifiedTarget).ConfigureAwait(false);
            if (oid is not { } targetOid)
            {
                items.Add(table.Item(ReadinessCheck.Migrated, false, $"{table.QualifiedTarget} no longer exists on the target, though this session migrated it.",
                    "Create the table again and migrate it, or leave its source table out of the gate with -Table."));
                continue;
            }

            items.Add(await ChecksumAsync(targetConnection, sourceConnection, table, migratedAt, verifications, cancellationToken).ConfigureAwait(false));
            items.AddRange(await SequenceChecks.CheckAsync(targetConnection, sourceConnection, target, source, table, targetOid, cancellationToken).ConfigureAwait(false));
            items.AddRange(await TableChecks.CatalogAsync(targetConnection, table, targetOid, cancellationToken).ConfigureAwait(false));
            items.Add(TableChecks.JournalItem(table, journal));
        }

        // Definitions dropped from tables outside the judged ones are missing on this target all the same.
        foreach (var other in TableChecks.JournalOutside(journal, judged.Select(j => (j.Map.TargetSchema, j.Map.TargetTable)).ToList()))
        {
            items.Add(other);
        }

        var stream = await StreamChecks.CheckAsync(targetConnection, sourceConnection, settings.ServerName, request.MaxStreamLagBytes, cancellationToken).ConfigureAwait(false);
        items.AddRange(stream.Items);
        return new CutoverReadiness(items, DateTimeOffset.Now) { StreamLagBytes = stream.LagBytes, RetainedWalBytes = stream.RetainedBytes };
    }

    private static async Task<NpgsqlTransaction> ReadOnlyAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SET TRANSACTION READ ONLY"), NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        return transaction;
    }

    /// <summary>Verified by checksum, matched, and neither side changed since: by the row counters and storage files recorded with it.</summary>
    private static async Task<ReadinessItem> ChecksumAsync(
        NpgsqlConnection targetConnection, NpgsqlConnection sourceConnection, JudgedTable table, DateTimeOffset? migratedAt,
        IReadOnlyList<VerifiedTable>? verifications, CancellationToken cancellationToken)
    {
        var map = table.Map;
        var verify = $"run Test-ConfitureMigration -Table {map.SourceTable} -Checksum right before the gate";
        if (verifications is null)
        {
            return table.Item(ReadinessCheck.Checksum, false, $"The role may not read {TargetRecord.Schema}.verification on the target, so no checksum of {table.QualifiedTarget} can be found.",
                $"Grant SELECT on {TargetRecord.Schema}.verification to the role that runs the gate.");
        }

        var last = verifications.FirstOrDefault(v => v.TargetSchema == map.TargetSchema && v.TargetTable == map.TargetTable);
        if (last is null)
        {
            return table.Item(ReadinessCheck.Checksum, false, $"{table.QualifiedTarget} was never verified by checksum (no row in {TargetRecord.Schema}.verification).", When(verify) + ".");
        }

        var when = $"its last checksum ({last.VerifiedAt:u})";
        if (last.SourceSchema != map.SourceSchema || last.SourceTable != map.SourceTable)
        {
            return table.Item(ReadinessCheck.Checksum, false,
                $"{When(when)} compared it with {SqlText.Qualified(last.SourceSchema, last.SourceTable)}, not with {table.QualifiedSource} it was migrated from.", When(verify) + ".");
        }

        if (!last.Matched)
        {
            return table.Item(ReadinessCheck.Checksum, false, $"{When(when)} did not match the source.",
                $"Bring it up to date (Invoke-ConfitureTableMigration -Sync, or migrate it again with -Truncate), then {verify}.");
        }

        if (migratedAt is { } loaded && loaded > last.VerifiedAt)
        {
            return table.Item(ReadinessCheck.Checksum, false, $"{table.QualifiedTarget} was migrated again ({loaded:u}) after {when}.", When(verify) + ".");
        }

        var targetNow = await ChangeCounters.ReadAsync(targetConnection, map.TargetSchema, map.TargetTable, cancellationToken).ConfigureAwait(false);
        var sourceNow = await ChangeCounters.ReadAsync(sourceConnection, map.SourceSchema, map.SourceTable, cancellationToken).ConfigureAwait(false);
        if (sourceNow is null)
        {
            return table.Item(ReadinessCheck.Checksum, false, $"The source table {table.QualifiedSource} no longer exists.",
                "Find out who dropped it; the gate cannot vouch for a table it cannot compare.");
        }

        var changed = Changed("target", last.Target, targetNow!) ?? Changed("source", last.Source, sourceNow);
        if (changed is not null)
        {
            return table.Item(ReadinessCheck.Checksum, false, $"{When(changed)} since {when}.",
                "Bring it up to date again (Invoke-ConfitureTableMigration -Sync when the source changed; find out what wrote to the target when it did), then " +
                $"{verify}, with the writes to the source stopped.");
        }

        return table.Item(ReadinessCheck.Checksum, true, $"Verified by checksum at {last.VerifiedAt:u}; unchanged on both servers since.", null);
    }

    private static string When(string when) => char.ToUpperInvariant(when[0]) + when[1..];

    /// <summary>How the table changed on one side since the mark, in words; null when it did not.</summary>
    private static string? Changed(string side, ChangeMark then, ChangeMark now)
    {
        if (now.Storage != then.Storage)
        {
            return $"it was truncated or rewritten on the {side} (its storage changed)";
        }

        if (now.Changes < then.Changes)
        {
            return $"the {side} server's row counters were reset (pg_stat_reset, or a crash), so whether it changed cannot be told";
        }

        return now.Changes > then.Changes ? $"{now.Changes - then.Changes} row change(s) on the {side}" : null;
    }
}

/// <summary>A table the gate judges, and how its items name it.</summary>
internal sealed record JudgedTable(MigratedMap Map, string QualifiedTarget, string QualifiedSource)
{
    public ReadinessItem Item(ReadinessCheck check, bool passed, string detail, string? whatToDo) =>
        new(check, Map.TargetSchema, Map.TargetTable, Map.SourceTable, passed, detail, passed ? null : whatToDo);
}
