using Confiture.Core.Migration;

namespace Confiture.Core.Planning;

/// <summary>The planner's advice for one source table.</summary>
/// <param name="Schema">The source schema.</param>
/// <param name="Table">The source table.</param>
/// <param name="RowCount">The row estimate (exact when the table was never analyzed).</param>
/// <param name="IsExact">Whether <paramref name="RowCount"/> was counted rather than estimated.</param>
/// <param name="Strategy">The faster strategy for that size.</param>
/// <param name="EstimatedSeconds">The expected time with that strategy.</param>
public sealed record TableStrategy(string Schema, string Table, long RowCount, bool IsExact, MigrationStrategy Strategy, double EstimatedSeconds);
