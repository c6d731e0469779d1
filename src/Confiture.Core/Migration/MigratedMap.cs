namespace Confiture.Core.Migration;

/// <summary>
/// The map a target table was migrated with: which source column fed which target column, which
/// target columns took their default and which source columns stayed behind. Verification compares
/// exactly this, whichever process runs it (the session keeps it, and so does the target's record).
/// </summary>
/// <param name="SourceSchema">The source schema.</param>
/// <param name="SourceTable">The source table.</param>
/// <param name="TargetSchema">The target schema.</param>
/// <param name="TargetTable">The target table.</param>
/// <param name="Columns">Source column to target column, as written.</param>
/// <param name="Defaulted">Target columns the load gave no value (they took their default).</param>
/// <param name="Excluded">Source columns the load did not move.</param>
/// <param name="Strategy">How the rows moved.</param>
/// <param name="ServerName">The session's foreign server.</param>
public sealed record MigratedMap(
    string SourceSchema,
    string SourceTable,
    string TargetSchema,
    string TargetTable,
    IReadOnlyList<ColumnPair> Columns,
    IReadOnlyList<string> Defaulted,
    IReadOnlyList<string> Excluded,
    MigrationStrategy Strategy,
    string ServerName)
{
    internal static MigratedMap From(MigrationPlan plan, string serverName) =>
        new(plan.SourceSchema, plan.Request.SourceTable, plan.Request.TargetSchema, plan.TargetTable,
            plan.Columns.Select(c => c.Pair).ToList(), plan.Defaulted, plan.Excluded, plan.Strategy, serverName);
}
