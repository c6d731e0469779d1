using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Readiness;

/// <summary>
/// The gate's sequence items: every sequence the table's written columns draw from (as
/// <see cref="SequenceLinks"/> finds them for a load) must hand out no value any of its columns
/// holds on the target, and none the source's own sequence for the same column already handed out.
/// </summary>
internal static class SequenceChecks
{
    public static async Task<IReadOnlyList<ReadinessItem>> CheckAsync(
        NpgsqlConnection targetConnection, NpgsqlConnection sourceConnection, DatabaseEndpoint target, DatabaseEndpoint source,
        JudgedTable table, uint targetOid, CancellationToken cancellationToken)
    {
        var map = table.Map;
        var links = await SequenceLinks.FindAsync(targetConnection, target, targetOid, map.Columns.Select(c => c.Target).ToList(), map.SourceTable,
            NullObserver.Instance, cancellationToken, forMove: false).ConfigureAwait(false);
        if (links.Count == 0)
        {
            return [];
        }

        var sourceLinks = await SourceLinksAsync(sourceConnection, source, table, cancellationToken).ConfigureAwait(false);
        var items = new List<ReadinessItem>();
        foreach (var link in links)
        {
            items.Add(await CheckOneAsync(targetConnection, sourceConnection, table, link, sourceLinks, cancellationToken).ConfigureAwait(false));
        }

        return items;
    }

    private static async Task<ReadinessItem> CheckOneAsync(
        NpgsqlConnection targetConnection, NpgsqlConnection sourceConnection, JudgedTable table, SequenceLink link,
        IReadOnlyList<SequenceLink> sourceLinks, CancellationToken cancellationToken)
    {
        if (link.Unreadable is { } why)
        {
            return table.Item(ReadinessCheck.Sequence, false, $"Cannot tell where {link.Sequence} stands against the data: {why}.",
                "Grant SELECT on those tables to the role that runs the gate.");
        }

        var standing = await SequenceLinks.StandingAsync(targetConnection, link, withData: true, cancellationToken).ConfigureAwait(false);
        if (standing is null)
        {
            return table.Item(ReadinessCheck.Sequence, false, $"The role may not read the sequence {link.Sequence} on the target.",
                $"Grant SELECT ON SEQUENCE {link.Sequence} to the role that runs the gate.");
        }

        var users = string.Join(", ", link.Users.Select(u => $"{u.Table}.{SqlText.Identifier(u.Column)}").Distinct());
        if (!standing.AheadOfData(link.Descending))
        {
            return table.Item(ReadinessCheck.Sequence, false,
                $"{link.Sequence} would hand out {Show(standing.Next)} next, but {users} already hold(s) {(link.Descending ? "values down to" : "values up to")} {Show(standing.Extreme)}: new rows would collide.",
                $"Move it past the data: SELECT setval('{link.Sequence}', {Show(standing.Extreme)}) on the target (a -Sync of the table moves it too).");
        }

        // The source's own sequence for the same column: ids it handed out (in rows since deleted,
        // or in transactions rolled back) must not be handed out again by the target.
        var ownColumns = link.Users.Where(u => u.Table == table.QualifiedTarget).Select(u => u.Column).ToHashSet(StringComparer.Ordinal);
        var sourceColumns = table.Map.Columns.Where(c => ownColumns.Contains(c.Target)).Select(c => c.Source).ToHashSet(StringComparer.Ordinal);
        var sourceLink = sourceLinks.FirstOrDefault(s => s.Users.Any(u => u.Table == table.QualifiedSource && sourceColumns.Contains(u.Column)));
        var detail = $"{link.Sequence} hands out {Show(standing.Next)} next, past the data of {users} ({(standing.Extreme is null ? "none yet" : Show(standing.Extreme))})";
        if (sourceLink is null)
        {
            return table.Item(ReadinessCheck.Sequence, true, detail + "; the source column has no sequence of its own.", null);
        }

        var sourceStanding = await SequenceLinks.StandingAsync(sourceConnection, sourceLink, withData: false, cancellationToken).ConfigureAwait(false);
        if (sourceStanding is null)
        {
            return table.Item(ReadinessCheck.Sequence, false, detail + $", but the source's sequence {sourceLink.Sequence} cannot be read by the source role.",
                $"Grant SELECT ON SEQUENCE {sourceLink.Sequence} to the source role on the source.");
        }

        var behind = link.Descending ? standing.Next > sourceStanding.Next : standing.Next < sourceStanding.Next;
        return behind
            ? table.Item(ReadinessCheck.Sequence, false,
                detail + $", but the source's {sourceLink.Sequence} is already at {Show(sourceStanding.Next)}: the target would hand out again ids the source already handed out.",
                $"SELECT setval('{link.Sequence}', {Show(sourceStanding.Next)}, false) on the target, once the writes to the source are stopped.")
            : table.Item(ReadinessCheck.Sequence, true, detail + $", and at or past the source's {sourceLink.Sequence} ({Show(sourceStanding.Next)}).", null);
    }

    /// <summary>The sequences of the source table's columns, read only; none when the source table is gone.</summary>
    private static async Task<IReadOnlyList<SequenceLink>> SourceLinksAsync(NpgsqlConnection connection, DatabaseEndpoint source, JudgedTable table, CancellationToken cancellationToken)
    {
        var oid = await SqlExecutor.ScalarAsync<uint?>(connection, "SELECT to_regclass($1)::oid", cancellationToken, table.QualifiedSource).ConfigureAwait(false);
        return oid is { } sourceOid
            ? await SequenceLinks.FindAsync(connection, source, sourceOid, table.Map.Columns.Select(c => c.Source).ToList(), table.Map.SourceTable,
                NullObserver.Instance, cancellationToken, forMove: false).ConfigureAwait(false)
            : [];
    }

    private static string Show(decimal? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "none";
}
