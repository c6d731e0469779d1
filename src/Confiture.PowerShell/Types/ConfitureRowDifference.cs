namespace Confiture.PowerShell.Types;

/// <summary>One row that differs between source and target, by the target's primary key.</summary>
public sealed class ConfitureRowDifference
{
    internal ConfitureRowDifference(string key, string kind)
    {
        Key = key;
        Kind = kind;
    }

    /// <summary>The key's text form, e.g. 42 or (7,abc).</summary>
    public string Key { get; }

    /// <summary>Missing (on the source only), Extra (on the target only) or Changed.</summary>
    public string Kind { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Key}: {Kind}";
}
