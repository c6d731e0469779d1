using Confiture.Core.Sql;

namespace Confiture.Core.Fdw;

/// <summary>The statements a setup or cleanup will run, worked out from the catalogs before any change.</summary>
/// <param name="Statements">The statements, in order.</param>
/// <param name="Warnings">What the user should know (for cleanup: what was left in place).</param>
/// <param name="Tables">For setup: the source tables that will be imported.</param>
public sealed record FdwPlan(IReadOnlyList<SqlStatement> Statements, IReadOnlyList<string> Warnings, IReadOnlyList<string> Tables);
