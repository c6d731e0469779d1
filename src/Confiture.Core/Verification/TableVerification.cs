namespace Confiture.Core.Verification;

/// <summary>Row counts of one table on both sides.</summary>
/// <param name="SourceSchema">The source schema.</param>
/// <param name="SourceTable">The source table.</param>
/// <param name="TargetSchema">The target schema.</param>
/// <param name="TargetTable">The target table.</param>
/// <param name="SourceCount">Rows on the source.</param>
/// <param name="TargetCount">Rows on the target.</param>
public sealed record TableVerification(string SourceSchema, string SourceTable, string TargetSchema, string TargetTable, long SourceCount, long TargetCount)
{
    /// <summary>Whether the counts agree.</summary>
    public bool Match => SourceCount == TargetCount;

    /// <summary>Target minus source: negative means rows are missing on the target.</summary>
    public long Difference => TargetCount - SourceCount;
}
