using Confiture.Core.Sql;

namespace Confiture.Core.Fdw;

/// <summary>The statements a setup or cleanup will run, worked out from the catalogs before any change.</summary>
/// <param name="Statements">The statements, in order.</param>
/// <param name="Warnings">What the user should know (for cleanup: what was left in place).</param>
/// <param name="Tables">For setup: the source tables that will be imported.</param>
public sealed record FdwPlan(IReadOnlyList<SqlStatement> Statements, IReadOnlyList<string> Warnings, IReadOnlyList<string> Tables)
{
    /// <summary>For setup: the source tables postgres_fdw could not import, with PostgreSQL's reason (they can still be copied).</summary>
    public IReadOnlyDictionary<string, string> NotImported { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);
}
