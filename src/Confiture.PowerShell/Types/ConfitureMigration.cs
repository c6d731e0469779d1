using Confiture.Core;

namespace Confiture.PowerShell.Types;

/// <summary>
/// A migration session: both connections and the postgres_fdw server that links them. Every other
/// cmdlet takes it from the pipeline (or, left out, uses the last one made in the runspace).
/// </summary>
public sealed class ConfitureMigration
{
    internal ConfitureMigration(ConfitureConnection source, ConfitureConnection target, SchemaToSchemaMigrator migrator, IReadOnlyList<string> tables)
    {
        Source = source;
        Target = target;
        Migrator = migrator;
        Tables = [.. tables];
        CreatedAt = DateTimeOffset.Now;
    }

    /// <summary>The old database.</summary>
    public ConfitureConnection Source { get; }

    /// <summary>The new database.</summary>
    public ConfitureConnection Target { get; }

    /// <summary>The foreign server on the target that points at the source.</summary>
    public string ServerName => Migrator.Settings.ServerName;

    /// <summary>The target schema holding the foreign tables.</summary>
    public string ForeignSchema => Migrator.Settings.ForeignSchema;

    /// <summary>The source schema whose tables were imported.</summary>
    public string SourceSchema => Migrator.Settings.SourceSchema;

    /// <summary>The rows per round trip set on the server.</summary>
    public int FetchSize => Migrator.Settings.FetchSize;

    /// <summary>The source tables imported as foreign tables.</summary>
    public string[] Tables { get; }

    /// <summary>Whether the session streams the source's changes (Enable-ConfitureFdw -ChangeStream; applied by Sync-ConfitureMigration).</summary>
    public bool ChangeStream => Migrator.HasChangeStream;

    /// <summary>When the session was set up.</summary>
    public DateTimeOffset CreatedAt { get; }

    internal SchemaToSchemaMigrator Migrator { get; }

    /// <summary>The migration map last given to a cmdlet of this session; the next calls use it when they are given none.</summary>
    internal Confiture.Core.Migration.MigrationMap? Map { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"{Source} -> {Target} via {ServerName} ({ForeignSchema})";
}
