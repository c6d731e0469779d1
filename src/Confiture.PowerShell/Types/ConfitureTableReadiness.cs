namespace Confiture.PowerShell.Types;

/// <summary>The cutover verdict of one table: ready when every item of it passed.</summary>
public sealed class ConfitureTableReadiness
{
    internal ConfitureTableReadiness(string table, string? sourceTable, ConfitureReadinessItem[] items)
    {
        Table = table;
        SourceTable = sourceTable;
        Items = items;
    }

    /// <summary>schema.table on the target (the source table's name when it never reached the target).</summary>
    public string Table { get; }

    /// <summary>The source table.</summary>
    public string? SourceTable { get; }

    /// <summary>Whether every item of this table passed.</summary>
    public bool Ready => Items.All(i => i.Passed);

    /// <summary>The checks that failed, by name.</summary>
    public string[] Failed => [.. Items.Where(i => !i.Passed).Select(i => i.Check)];

    /// <summary>Every item of this table.</summary>
    public ConfitureReadinessItem[] Items { get; }

    /// <inheritdoc />
    public override string ToString() => Ready ? $"{Table}: ready" : $"{Table}: NOT READY ({string.Join(", ", Failed)})";
}
