namespace Confiture.Core.Migration;

/// <summary>One mapped column: where it is read and where it is written.</summary>
/// <param name="Source">The source column.</param>
/// <param name="Target">The target column.</param>
public sealed record ColumnPair(string Source, string Target)
{
    /// <inheritdoc />
    public override string ToString() => Source == Target ? Source : $"{Source} -> {Target}";
}
