<#
    The next job of a runbook: in a process of its own, finds the session an earlier process set up
    on the target, migrates and verifies its tables, cleans up, and prints one JSON line of what
    it saw.
#>
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $Source,
    [Parameter(Mandatory)][string] $Target,
    [string] $SourceHostForTarget,
    [int] $SourcePortForTarget
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$peer = @{}
if ($SourceHostForTarget) { $peer.SourceHostForTarget = $SourceHostForTarget }
if ($SourcePortForTarget) { $peer.SourcePortForTarget = $SourcePortForTarget }
$src = Connect-ConfitureDatabase $Source
$tgt = Connect-ConfitureDatabase $Target
$m = @(Get-ConfitureMigration -Target $tgt -Source $src @peer)
$results = @($m[0] | Get-ConfitureStrategy | Invoke-ConfitureTableMigration -Force)
$checks = @($results | Test-ConfitureMigration -Checksum)
$m[0] | Remove-ConfitureFdw -Force
[pscustomobject]@{
    Sessions = $m.Count
    Type     = $m[0].GetType().FullName
    Tables   = @($m[0].Tables | Sort-Object)
    Migrated = @($results | ForEach-Object { '{0}={1}' -f $_.SourceTable, $_.RowsMigrated } | Sort-Object)
    Checks   = @($checks | ForEach-Object { '{0}:{1}:{2}:{3}' -f $_.SourceTable, $_.Match, $_.ChecksumMatch, $_.TargetCount } | Sort-Object)
} | ConvertTo-Json -Compress
