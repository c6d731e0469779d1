using System.Globalization;

namespace Confiture.PowerShell.Reporting;

/// <summary>How the report forms write figures: the same words in HTML, Markdown and the console.</summary>
internal static class ReportText
{
    public static string Count(long? value) => value is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) : "";

    public static string Rate(double? value) => value is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) : "";

    public static string Seconds(double? value) => value is { } v ? v.ToString(v < 10 ? "0.000" : "N1", CultureInfo.InvariantCulture) + " s" : "";

    public static string Verdict(bool? match) => match switch { true => "Match", false => "MISMATCH", null => "not verified" };

    public static string Checksum(ReportVerification? v) => v?.ChecksumMatch switch
    {
        true => "equal",
        false => "differ",
        null => v is null ? "" : "not computed",
    };

    public static string Stamp(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    public static string Table(ReportTable t) => t.SourceName == t.TargetName ? t.SourceName : $"{t.SourceName} -> {t.TargetName}";

    /// <summary>The bar length of each table's time against the longest, 0 to 1.</summary>
    public static double Share(ReportTable t, double longest) => longest <= 0 || t.ElapsedSeconds is not { } s ? 0 : Math.Clamp(s / longest, 0, 1);
}
