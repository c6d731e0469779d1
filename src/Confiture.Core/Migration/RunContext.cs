namespace Confiture.Core.Migration;

/// <summary>What a table's load shares with the rest of its run.</summary>
/// <param name="Snapshot">The run's exported source snapshot, or null for a snapshot of the table's own.</param>
/// <param name="CycleKeys">Foreign keys among the tables loaded together, dropped and added back in their one transaction.</param>
internal sealed record RunContext(string? Snapshot, IReadOnlyList<ForeignKeyDefinition> CycleKeys)
{
    /// <summary>A table migrated on its own.</summary>
    public static RunContext Alone { get; } = new(null, []);

    /// <summary>The run's id in the target's ledger: each table's commit records itself there, in the same transaction.</summary>
    public Guid? RunId { get; init; }

    /// <summary>What the run adds to the group's transaction just before it commits (the deferred keys to tables already committed).</summary>
    public Func<Npgsql.NpgsqlConnection, CancellationToken, Task>? BeforeCommit { get; init; }
}

/// <summary>A foreign key as the target defines it, to drop and add back exactly.</summary>
/// <param name="Table">The referencing table, qualified and quoted.</param>
/// <param name="Name">The constraint's name.</param>
/// <param name="Definition">pg_get_constraintdef's text.</param>
internal sealed record ForeignKeyDefinition(string Table, string Name, string Definition)
{
    public Sql.SqlStatement Drop => Sql.SqlStatement.Plain($"ALTER TABLE {Table} DROP CONSTRAINT {Sql.SqlText.Identifier(Name)}");

    public Sql.SqlStatement Add => Sql.SqlStatement.Plain($"ALTER TABLE {Table} ADD CONSTRAINT {Sql.SqlText.Identifier(Name)} {Definition}");
}
