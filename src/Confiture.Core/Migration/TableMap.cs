namespace Confiture.Core.Migration;

/// <summary>
/// One source table's entry of a migration map: where it goes and what changes on the way. Only
/// the differences are named: every other column moves to the target column of the same name.
/// </summary>
public sealed record TableMap
{
    /// <summary>The target table; null for the source table's name.</summary>
    public string? TargetTable { get; init; }

    /// <summary>The target schema; null for the run's.</summary>
    public string? TargetSchema { get; init; }

    /// <summary>Source column to target column, for the columns whose name changes.</summary>
    public IReadOnlyDictionary<string, string> Rename { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Source columns that stay behind.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Target columns the source does not feed, allowed to take their default.</summary>
    public IReadOnlyList<string> Default { get; init; } = [];

    /// <summary>The entry of a table the map does not name: everything by name, nothing left out.</summary>
    public static TableMap Empty { get; } = new();
}

/// <summary>A migration map: one <see cref="TableMap"/> per source table, by name.</summary>
public sealed class MigrationMap
{
    private readonly Dictionary<string, TableMap> _tables;

    /// <summary>Creates a map from its entries.</summary>
    public MigrationMap(IReadOnlyDictionary<string, TableMap> tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        _tables = new Dictionary<string, TableMap>(tables, StringComparer.Ordinal);
    }

    /// <summary>The source tables the map names.</summary>
    public IReadOnlyCollection<string> Tables => _tables.Keys;

    /// <summary>Whether the map has an entry for the source table.</summary>
    public bool Names(string sourceTable) => _tables.ContainsKey(sourceTable);

    /// <summary>The entry for a source table (an empty one when the map does not name it).</summary>
    public TableMap For(string sourceTable) => _tables.GetValueOrDefault(sourceTable) ?? TableMap.Empty;
}
