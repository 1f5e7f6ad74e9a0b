#!/usr/bin/perl
# Feeds `real=` values to ldirectord's own parser: the subroutines _ld_read_config_real_resolve
# and add_real_server are taken verbatim from the installed /usr/sbin/ldirectord and run with
# stubs for name lookups; prints what ldirectord made of each line, one line of JSON per input.
# usage: ldirectord-real.pl LDIRECTORD 'VALUE AFTER real=' ...
use strict;
use warnings;
use Socket qw(AF_INET AF_INET6);
use JSON::PP;

my $src_file = shift @ARGV;
open(my $fh, '<', $src_file) or die "cannot read $src_file: $!\n";
my $src = do { local $/; <$fh> };
close($fh);

our @REAL;
my $code = '';
for my $name (qw(_ld_read_config_real_resolve add_real_server)) {
	$src =~ /^(sub \Q$name\E\s*\n\{.*?^\})/ms or die "ldirectord has no sub $name\n";
	$code .= "$1\n";
}
no strict 'vars';
no warnings;
sub config_error { my ($line, $msg) = @_; die "config error: $msg\n"; }
sub ld_gethostbyname { my ($h) = @_; $h =~ s/^\[(.*)\]$/$1/; return $h; }
sub ld_getservbyname { my ($p) = @_; return $p =~ /^\d+$/ ? $p : undef; }
sub get_real_id_str { return 'real'; }
sub get_virtual_id_str { return 'virtual'; }
eval "$code; 1" or die "cannot load ldirectord's parser: $@";

for my $value (@ARGV) {
	my %vsrv = (real => []);
	my $af = $value =~ /^\[/ ? AF_INET6 : AF_INET;
	my $out = eval { _ld_read_config_real_resolve(\%vsrv, [[$value, 1]], $af); $vsrv{real}[0] };
	print JSON::PP->new->canonical->encode($out // { error => "$@" =~ s/\n$//r }), "\n";
}
