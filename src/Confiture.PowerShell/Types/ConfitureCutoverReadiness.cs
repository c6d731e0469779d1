namespace Confiture.PowerShell.Types;

/// <summary>What Test-ConfitureCutover found: every item, table by table, and one verdict.</summary>
public sealed class ConfitureCutoverReadiness
{
    internal ConfitureCutoverReadiness(ConfitureReadinessItem[] items, DateTimeOffset checkedAt, long? streamLagBytes, long? retainedWalBytes, ConfitureMigration migration)
    {
        Items = items;
        CheckedAt = checkedAt;
        StreamLagBytes = streamLagBytes;
        RetainedWalBytes = retainedWalBytes;
        Migration = migration;
        Tables = [.. items.Where(i => i.TargetTable is not null || i.SourceTable is not null)
            .GroupBy(i => i.Table, StringComparer.Ordinal)
            .Select(g => new ConfitureTableReadiness(g.Key, g.First().SourceTable, [.. g]))];
    }

    /// <summary>Whether the cutover may go ahead: every item passed (and there was at least one).</summary>
    public bool Ready => Items.Length > 0 && Items.All(i => i.Passed);

    /// <summary>Each table's verdict and items.</summary>
    public ConfitureTableReadiness[] Tables { get; }

    /// <summary>Every item, table by table, then the session's own (the change stream).</summary>
    public ConfitureReadinessItem[] Items { get; }

    /// <summary>The items that failed, each with what to do.</summary>
    public ConfitureReadinessItem[] FailedItems => [.. Items.Where(i => !i.Passed)];

    /// <summary>The change stream's lag behind the source's current WAL position, in bytes; null without a stream.</summary>
    public long? StreamLagBytes { get; }

    /// <summary>The WAL the stream's replication slot keeps on the source, in bytes; null without a stream.</summary>
    public long? RetainedWalBytes { get; }

    /// <summary>When the gate ran.</summary>
    public DateTimeOffset CheckedAt { get; }

    /// <summary>The session.</summary>
    public ConfitureMigration Migration { get; }

    /// <inheritdoc />
    public override string ToString() =>
        Ready ? $"Ready: {Items.Length} item(s) passed" : $"NOT READY: {FailedItems.Length} of {Items.Length} item(s) failed";
}
