namespace Confiture.Core.Sql;

/// <summary>
/// One statement to run, with the text that may be shown to a person. The two differ only when the
/// statement carries a secret (a user mapping's password), which the display text redacts.
/// </summary>
public sealed record SqlStatement(string Text, string Display)
{
    /// <summary>A statement with nothing to hide.</summary>
    public static SqlStatement Plain(string text) => new(text, text);

    /// <inheritdoc />
    public override string ToString() => Display;
}
