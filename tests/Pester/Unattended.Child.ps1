<#
    Runs one Confiture call in a process of its own, as an unattended job does (pwsh -NonInteractive,
    or with its input from /dev/null), and prints one JSON line: the ErrorId, message and recommended
    action of the error it stopped with, or "ok".
#>
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $Source,
    [Parameter(Mandatory)][string] $Target,
    [Parameter(Mandatory)][ValidateSet('Truncate', 'TruncateForce', 'ConfirmPreference', 'ConfirmPreferenceForce', 'RemoveConfirmPreference')] [string] $Case,
    [string] $SourceHostForTarget,
    [int] $SourcePortForTarget
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$peer = @{}
if ($SourceHostForTarget) { $peer.SourceHostForTarget = $SourceHostForTarget }
if ($SourcePortForTarget) { $peer.SourcePortForTarget = $SourcePortForTarget }
$m = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $Source) -Target (Connect-ConfitureDatabase $Target) @peer -Confirm:$false
$map = @{ id = 'id'; full_name = 'display_name' }
try {
    switch ($Case) {
        'Truncate' { $null = Invoke-ConfitureTableMigration -Migration $m users -ColumnMapping $map -Truncate }
        'TruncateForce' { $null = Invoke-ConfitureTableMigration -Migration $m users -ColumnMapping $map -Truncate -Force }
        'ConfirmPreference' { $ConfirmPreference = 'Medium'; $null = Invoke-ConfitureTableMigration -Migration $m users -ColumnMapping $map -Truncate }
        'ConfirmPreferenceForce' { $ConfirmPreference = 'Low'; $null = Invoke-ConfitureTableMigration -Migration $m users -ColumnMapping $map -Truncate -Force }
        'RemoveConfirmPreference' { & { $ConfirmPreference = 'Medium'; $m | Remove-ConfitureFdw } }
    }
    [pscustomobject]@{ ErrorId = 'ok' } | ConvertTo-Json -Compress
}
catch {
    [pscustomobject]@{ ErrorId = $_.FullyQualifiedErrorId; Message = $_.Exception.Message; Action = $_.ErrorDetails.RecommendedAction } | ConvertTo-Json -Compress
}
finally {
    # The refused cleanup is left for the test to see; the others clean up after themselves.
    if ($Case -ne 'RemoveConfirmPreference') { $m | Remove-ConfitureFdw -Confirm:$false -ErrorAction SilentlyContinue }
}
